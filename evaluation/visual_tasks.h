// The study's visual benchmarks as lmms-eval runs them for LLaVA-NeXT (docs/multimodal.md): each
// task's prompt (its doc_to_text with the default kwargs), its generation budget, the llava_llama_3
// conversation lmms-eval's `llava` model wraps the prompt in, the prompt's token ids as LLaVA-NeXT's
// tokenizer_image_token makes them (one image placeholder, expanded to the image's embeddings), and
// the scoring of the decoded responses (evaluation/multimodal_scoring).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class Tokenizer;

struct VisualTask {
  std::string name;           // ai2d, chartqa, docvqa, mmbench_en, mme
  std::string split;          // the lmms-eval split the data comes from
  int64_t max_new_tokens = 0;  // the task's generation_kwargs
};

const std::vector<VisualTask>& visual_tasks();
const VisualTask* find_visual_task(const std::string& name);

// doc_to_text: the task's question text for one document (fields as the Hugging Face data set has
// them; launch/prepare_multimodal.py writes them). Errors name the task and the field.
std::string visual_prompt(const std::string& task, const nlohmann::json& doc);

// LLaVA-NeXT's llava_llama_3 conversation as lmms-eval builds it: the Llama 3 Instruct chat
// template over the LLaVA system prompt and the user turn "<image>\n" + prompt, with the assistant
// header to generate after.
std::string llava_llama3_conversation(const std::string& prompt);

// tokenizer_image_token: the conversation split at "<image>" and each chunk tokenized (with what the
// tokenizer's post-processor adds); when the first chunk starts with `bos_token_id`, that token is
// kept once and the first token of every chunk is dropped (a tokenizer that prepends BOS gives
// lmms-eval's double BOS; one that does not loses each later chunk's first token: LLaVA-NeXT's code
// as it is). The placeholder becomes `image_tokens` copies of `image_token_id`.
std::vector<int32_t> llava_prompt_ids(const Tokenizer& tok, const std::string& conversation, int32_t bos_token_id,
                                      int32_t image_token_id, int64_t image_tokens);

// Refuses, before any generation, documents the task cannot score: MME needs both questions of
// every image (a --limit that cuts a pair says so).
void check_visual_documents(const std::string& task, const std::vector<nlohmann::json>& docs, const std::string& where);

// The task's scores from its documents and the decoded responses, in document order.
nlohmann::json score_visual_task(const std::string& task, const std::vector<nlohmann::json>& docs,
                                 const std::vector<std::string>& responses);

}  // namespace lowbit
