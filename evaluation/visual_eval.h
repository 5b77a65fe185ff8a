// One visual task of `lowbit eval` on a LLaVA-NeXT model over the pipeline: rank 0 reads the
// prepared questions (DATA_DIR/<task>/questions.jsonl and their pixel files, docs/multimodal.md),
// builds each prompt's ids, and when a generation batch starts turns its images into features
// (vision tower + projector on rank 0) merged into the prompt embeddings; every rank runs its blocks
// in evaluation/generation; rank 0 decodes the responses and scores them (evaluation/visual_tasks).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/llama_weights.h"

namespace lowbit {

class Communicator;
class Tokenizer;
struct LlavaNextVision;
struct VisualTask;

// A prepared question: the data set's fields and the pixels of its image.
struct VisualQuestion {
  nlohmann::json doc;
  std::string pixels_file;  // safetensors: pixel_values [tiles, channels, S, S], image_size [2] (height, width)
};

// Reads DATA_DIR/<task>/questions.jsonl (at most `limit` questions when > 0); errors name the file
// and line. Each line: the document's fields plus "pixels" (a path relative to the file).
std::vector<VisualQuestion> read_visual_questions(const std::string& path, int64_t limit);

// The ids generation stops at: generation_config.json's eos_token_id (one or a list) when the model
// has one, else config.json's.
std::vector<int32_t> generation_stop_ids(const std::string& model_dir, int64_t config_eos);

struct VisualEvalInputs {        // rank 0 only
  const Tokenizer* tokenizer = nullptr;
  const LlavaNextVision* vision = nullptr;
  std::vector<VisualQuestion> questions;
  std::vector<int32_t> stop_ids;
  int32_t bos_token_id = -1;
};

// Collective. Returns the task's scores on rank 0 (plus "samples": each question's response, when
// `log_samples`), null elsewhere.
nlohmann::json run_visual_task(const VisualTask& task, const LlamaWeights& w, Communicator& comm,
                               const VisualEvalInputs& in, int64_t batch, bool log_samples);

}  // namespace lowbit
