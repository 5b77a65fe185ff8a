#include "evaluation/visual_eval.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <tuple>
#include <utility>

#include "evaluation/generation.h"
#include "evaluation/visual_tasks.h"
#include "framework/core/dtype.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/data/text_corpus.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_forward.h"
#include "framework/model/llava_next.h"
#include "framework/model/safetensors.h"
#include "framework/model/tokenizer.h"

namespace lowbit {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Pixels {
  at::Tensor values;  // [tiles, channels, S, S] fp32
  int64_t height = 0, width = 0;
};

// A pixel file's image_size (height, width), checked.
std::pair<int64_t, int64_t> image_size_of(const SafetensorsFile& f) {
  const TensorView size = f.view("image_size");
  LOWBIT_CHECK(size.info->dtype == DType::I64 && size.info->shape == std::vector<int64_t>{2}, f.path(),
               ": image_size must be int64 [2] (height, width)");
  const auto* hw = reinterpret_cast<const int64_t*>(size.data);
  LOWBIT_CHECK(hw[0] > 0 && hw[1] > 0, f.path(), ": image_size ", hw[0], "x", hw[1], " is not an image size");
  return {hw[0], hw[1]};
}

Pixels read_pixels(const std::string& path) {
  const SafetensorsFile f(path);
  Pixels p;
  std::tie(p.height, p.width) = image_size_of(f);
  const TensorView v = f.view("pixel_values");
  LOWBIT_CHECK(v.info->shape.size() == 4, path, ": pixel_values must be [tiles, channels, height, width]");
  LOWBIT_CHECK(dtype_is_weight_float(v.info->dtype), path, ": pixel_values must be F32, F16 or BF16, got ",
               dtype_name(v.info->dtype));
  p.values = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, scalar_type(v.info->dtype))
                 .to(at::kFloat, false, true);
  return p;
}

}  // namespace

std::vector<VisualQuestion> read_visual_questions(const std::string& path, int64_t limit) {
  std::vector<VisualQuestion> out;
  const fs::path dir = fs::path(path).parent_path();
  for_each_jsonl_object(path, [&](const json& o, int64_t line) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) return;
    LOWBIT_CHECK(o.contains("pixels") && o["pixels"].is_string(), path, ":", line,
                 ": a question without 'pixels' (the path of its image's pixel file)");
    out.push_back({o, (dir / o["pixels"].get<std::string>()).string()});
  });
  LOWBIT_CHECK(!out.empty(), path, ": no questions");
  return out;
}

std::vector<int32_t> generation_stop_ids(const std::string& model_dir, int64_t config_eos) {
  std::vector<int32_t> ids;
  const fs::path gen = fs::path(model_dir) / "generation_config.json";
  if (fs::exists(gen)) {
    const json j = parse_json_object(read_file(gen.string()), gen.string());
    if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
      const json& e = j["eos_token_id"];
      for (const json& id : e.is_array() ? e : json::array({e})) {
        LOWBIT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, gen.string(),
                     ": eos_token_id must be token ids, got ", e.dump());
        ids.push_back(id.get<int32_t>());
      }
      return ids;
    }
  }
  if (config_eos >= 0) ids.push_back(static_cast<int32_t>(config_eos));
  return ids;
}

json run_visual_task(const VisualTask& task, const LlamaWeights& w, Communicator& comm, const VisualEvalInputs& in,
                     int64_t batch, bool log_samples) {
  const bool root = comm.rank() == 0;
  std::vector<GenerationRequest> requests;
  collective_step(comm, [&] {
    if (!root) return;
    const LlavaNextConfig& c = in.vision->config;
    std::vector<json> docs;
    for (const VisualQuestion& q : in.questions) docs.push_back(q.doc);
    check_visual_documents(task.name, docs, task.name);
    for (const VisualQuestion& q : in.questions) {
      // The image's size decides its token count; the pixels themselves are read per batch.
      const auto [height, width] = image_size_of(SafetensorsFile(q.pixels_file));
      const std::string conversation = llava_llama3_conversation(visual_prompt(task.name, q.doc));
      GenerationRequest r;
      r.ids = llava_prompt_ids(*in.tokenizer, conversation, in.bos_token_id, static_cast<int32_t>(c.image_token_id),
                               image_token_count(c, height, width));
      LOWBIT_CHECK(static_cast<int64_t>(r.ids.size()) + task.max_new_tokens <= w.config.max_position_embeddings,
                   q.pixels_file, ": the prompt (", r.ids.size(), " tokens) and ", task.max_new_tokens,
                   " new tokens exceed the model's ", w.config.max_position_embeddings, " positions");
      r.max_new_tokens = task.max_new_tokens;
      requests.push_back(std::move(r));
    }
  });
  GenerationOptions o;
  o.batch = batch;
  o.stop_ids = in.stop_ids;
  if (root) {
    o.prompt_embeds = [&](std::size_t i) {
      const Pixels p = read_pixels(in.questions[i].pixels_file);
      const at::Tensor features = image_features(*in.vision, p.values.to(in.vision->patch_embedding.device()), p.height,
                                                 p.width);
      const std::vector<int32_t>& ids32 = requests[i].ids;
      const at::Tensor ids = at::tensor(std::vector<int64_t>(ids32.begin(), ids32.end()), at::kLong);
      return merge_image_features(embed(w, ids.unsqueeze(0))[0], ids.to(w.embedding.device()), features,
                                  in.vision->config.image_token_id);
    };
    auto last = std::chrono::steady_clock::now();
    o.progress = [&, last](int64_t done, int64_t total) mutable {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last).count() < 10 && done < total) return;
      last = std::chrono::steady_clock::now();
      std::printf("  %s: %lld/%lld questions answered\n", task.name.c_str(), static_cast<long long>(done),
                  static_cast<long long>(total));
      std::fflush(stdout);
    };
  }
  const std::vector<std::vector<int32_t>> generated = generate_greedy(w, comm, requests, o);
  json result;
  collective_step(comm, [&] {
    if (!root) return;
    std::vector<json> docs;
    std::vector<std::string> responses;
    int64_t tokens = 0;
    for (std::size_t i = 0; i < in.questions.size(); ++i) {
      docs.push_back(in.questions[i].doc);
      // A model's vocabulary can be larger than its tokenizer's (LLaVA-NeXT's 128320 rows over Llama 3's
      // 128256 ids); `tokenizers` decodes such ids to nothing, and so does this.
      std::vector<int32_t> known;
      for (int32_t id : generated[i])
        if (id >= 0 && id < in.tokenizer->size()) known.push_back(id);
      responses.push_back(in.tokenizer->decode(known, /*skip_special_tokens=*/true));
      tokens += static_cast<int64_t>(generated[i].size());
    }
    result = score_visual_task(task.name, docs, responses);
    result["generated_tokens"] = tokens;
    if (log_samples) result["samples"] = responses;
  });
  return result;
}

}  // namespace lowbit
