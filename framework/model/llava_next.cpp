#include "framework/model/llava_next.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/llama_arch.h"
#include "framework/model/llama_weights.h"
#include "framework/model/safetensors.h"

namespace lowbit {

using nlohmann::json;

namespace {

int64_t positive(const json& j, const char* key, const std::string& where, int64_t fallback = -1) {
  if (!j.contains(key) || j[key].is_null()) {
    LOWBIT_CHECK(fallback > 0, where, ": missing field '", key, "'");
    return fallback;
  }
  LOWBIT_CHECK(j[key].is_number_integer() && j[key].get<int64_t>() > 0, where, ": field '", key,
               "' must be a positive integer, got ", j[key].dump());
  return j[key].get<int64_t>();
}

std::string text_or(const json& j, const char* key, const std::string& fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  LOWBIT_CHECK(j[key].is_string(), where, ": field '", key, "' must be a string, got ", j[key].dump());
  return j[key].get<std::string>();
}

// int(round(x, 7)) as Python computes it: x rounded to 7 decimals (the decimal nearest the exact
// binary value, ties to even: what glibc's printf does), then truncated.
int64_t python_int_round7(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.7f", x);
  return static_cast<int64_t>(std::trunc(std::strtod(buf, nullptr)));
}

at::Tensor activation(const at::Tensor& x, const std::string& name) {
  if (name == "quick_gelu") return x * at::sigmoid(1.702 * x);
  if (name == "gelu") return at::gelu(x);
  LOWBIT_FAIL("unsupported activation '", name, "'");
}

// [tiles, hidden] hidden states of one CLIP layer (pre-norm attention and MLP with residuals).
at::Tensor clip_layer(const ClipLayerWeights& l, const ClipVisionConfig& c, const at::Tensor& x) {
  const int64_t n = x.size(0), t = x.size(1), heads = c.num_attention_heads, hd = c.hidden_size / heads;
  at::Tensor h = at::layer_norm(x, {c.hidden_size}, l.norm1_w, l.norm1_b, c.layer_norm_eps);
  const auto split = [&](const at::Tensor& y) { return y.view({n, t, heads, hd}).transpose(1, 2); };
  const at::Tensor q = split(at::linear(h, l.q_w, l.q_b)), k = split(at::linear(h, l.k_w, l.k_b)),
                   v = split(at::linear(h, l.v_w, l.v_b));
  at::Tensor a = at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, 1.0 / std::sqrt(static_cast<double>(hd)));
  a = a.transpose(1, 2).reshape({n, t, c.hidden_size});
  at::Tensor r = x + at::linear(a, l.o_w, l.o_b);
  h = at::layer_norm(r, {c.hidden_size}, l.norm2_w, l.norm2_b, c.layer_norm_eps);
  return r + at::linear(activation(at::linear(h, l.fc1_w, l.fc1_b), c.hidden_act), l.fc2_w, l.fc2_b);
}

// transformers' unpad_image on a [C, H, W] feature map of an image originally (oh, ow).
at::Tensor unpad(const at::Tensor& f, int64_t oh, int64_t ow) {
  const int64_t h = f.size(1), w = f.size(2);
  const double original_aspect = static_cast<double>(ow) / static_cast<double>(oh);
  const double current_aspect = static_cast<double>(w) / static_cast<double>(h);
  if (original_aspect > current_aspect) {
    const double scale = static_cast<double>(w) / static_cast<double>(ow);
    const int64_t pad = (h - python_int_round7(static_cast<double>(oh) * scale)) / 2;
    return f.slice(1, pad, h - pad);
  }
  const double scale = static_cast<double>(h) / static_cast<double>(oh);
  const int64_t pad = (w - python_int_round7(static_cast<double>(ow) * scale)) / 2;
  return f.slice(2, pad, w - pad);
}

// The unpadded feature-map size (rows, cols) of an image of (height, width).
std::pair<int64_t, int64_t> unpadded_size(const LlavaNextConfig& c, int64_t height, int64_t width) {
  const auto [bh, bw] = select_best_resolution(height, width, c.grid_pinpoints);
  const int64_t g = c.vision.grid();
  const int64_t rows = bh / c.vision.image_size * g, cols = bw / c.vision.image_size * g;
  const at::Tensor probe = at::empty({1, rows, cols}, at::TensorOptions().device(at::kMeta));
  const at::Tensor u = unpad(probe, height, width);
  return {u.size(1), u.size(2)};
}

}  // namespace

LlavaNextConfig LlavaNextConfig::from_file(const std::string& config_path) {
  const json j = parse_json_object(read_file(config_path), config_path);
  LlavaNextConfig c;
  c.text = LlamaConfig::from_json_text(j.dump(), config_path);
  LOWBIT_CHECK(c.text.model_type == "llava_next", config_path, ": field 'model_type' is '",
               text_or(j, "model_type", "", config_path), "', expected 'llava_next'");
  LOWBIT_CHECK(j.contains("vision_config") && j["vision_config"].is_object(), config_path,
               ": field 'vision_config' is missing or not an object");
  const json& vj = j["vision_config"];
  const std::string vwhere = config_path + ": field 'vision_config'";
  const std::string vtype = text_or(vj, "model_type", "clip_vision_model", vwhere);
  LOWBIT_CHECK(vtype == "clip_vision_model", vwhere, ": model_type '", vtype, "' is not supported (clip_vision_model)");
  ClipVisionConfig& v = c.vision;
  v.hidden_size = positive(vj, "hidden_size", vwhere, 768);
  v.intermediate_size = positive(vj, "intermediate_size", vwhere, 3072);
  v.num_hidden_layers = positive(vj, "num_hidden_layers", vwhere, 12);
  v.num_attention_heads = positive(vj, "num_attention_heads", vwhere, 12);
  v.image_size = positive(vj, "image_size", vwhere, 224);
  v.patch_size = positive(vj, "patch_size", vwhere, 32);
  v.num_channels = positive(vj, "num_channels", vwhere, 3);
  if (vj.contains("layer_norm_eps") && vj["layer_norm_eps"].is_number()) v.layer_norm_eps = vj["layer_norm_eps"].get<double>();
  v.hidden_act = text_or(vj, "hidden_act", "quick_gelu", vwhere);
  LOWBIT_CHECK(v.hidden_act == "quick_gelu" || v.hidden_act == "gelu", vwhere, ": hidden_act '", v.hidden_act,
               "' is not supported (quick_gelu, gelu)");
  LOWBIT_CHECK(v.hidden_size % v.num_attention_heads == 0 && v.image_size % v.patch_size == 0, vwhere,
               ": hidden_size must divide into the heads and image_size into patches");

  c.image_token_id = j.contains("image_token_index") ? positive(j, "image_token_index", config_path)
                                                     : positive(j, "image_token_id", config_path);
  LOWBIT_CHECK(c.image_token_id < c.text.vocab_size, config_path, ": image token ", c.image_token_id,
               " is outside the language model's vocabulary (", c.text.vocab_size, ")");
  LOWBIT_CHECK(j.contains("image_grid_pinpoints") && j["image_grid_pinpoints"].is_array() &&
                   !j["image_grid_pinpoints"].empty(),
               config_path, ": field 'image_grid_pinpoints' must be a non-empty list of [height, width]");
  for (const json& p : j["image_grid_pinpoints"]) {
    LOWBIT_CHECK(p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number_integer() &&
                     p[0].get<int64_t>() > 0 && p[1].get<int64_t>() > 0 &&
                     p[0].get<int64_t>() % v.image_size == 0 && p[1].get<int64_t>() % v.image_size == 0,
                 config_path, ": field 'image_grid_pinpoints': ", p.dump(),
                 " is not a [height, width] in multiples of the tile size ", v.image_size);
    c.grid_pinpoints.emplace_back(p[0].get<int64_t>(), p[1].get<int64_t>());
  }
  const json layer = j.value("vision_feature_layer", json(-2));
  for (const json& l : layer.is_array() ? layer : json::array({layer})) {
    LOWBIT_CHECK(l.is_number_integer(), config_path, ": field 'vision_feature_layer' must be an index or a list of them");
    const int64_t i = l.get<int64_t>();
    LOWBIT_CHECK(i >= -(v.num_hidden_layers + 1) && i <= v.num_hidden_layers, config_path,
                 ": field 'vision_feature_layer' ", i, " is not a hidden state of a ", v.num_hidden_layers,
                 "-layer vision tower");
    c.feature_layers.push_back(i < 0 ? i + v.num_hidden_layers + 1 : i);
  }
  c.select_strategy = text_or(j, "vision_feature_select_strategy", "default", config_path);
  LOWBIT_CHECK(c.select_strategy == "default" || c.select_strategy == "full", config_path,
               ": field 'vision_feature_select_strategy' is '", c.select_strategy, "' (default or full)");
  c.projector_act = text_or(j, "projector_hidden_act", "gelu", config_path);
  LOWBIT_CHECK(c.projector_act == "gelu", config_path, ": field 'projector_hidden_act' is '", c.projector_act,
               "', only gelu (LLaVA's mlp2x_gelu) is supported");
  c.projector_bias = j.value("multimodal_projector_bias", true);
  return c;
}

std::pair<int64_t, int64_t> select_best_resolution(int64_t height, int64_t width,
                                                   const std::vector<std::pair<int64_t, int64_t>>& pinpoints) {
  std::pair<int64_t, int64_t> best{0, 0};
  int64_t max_effective = 0;
  double min_wasted = INFINITY;
  for (const auto& [h, w] : pinpoints) {
    const double scale = std::min(static_cast<double>(w) / static_cast<double>(width),
                                  static_cast<double>(h) / static_cast<double>(height));
    const int64_t dw = static_cast<int64_t>(static_cast<double>(width) * scale);
    const int64_t dh = static_cast<int64_t>(static_cast<double>(height) * scale);
    const int64_t effective = std::min(dw * dh, width * height);
    const int64_t wasted = w * h - effective;
    if (effective > max_effective || (effective == max_effective && static_cast<double>(wasted) < min_wasted)) {
      max_effective = effective;
      min_wasted = static_cast<double>(wasted);
      best = {h, w};
    }
  }
  LOWBIT_CHECK(best.first > 0, "no image grid pinpoint fits an image of ", height, "x", width);
  return best;
}

int64_t image_tile_count(const LlavaNextConfig& c, int64_t height, int64_t width) {
  const auto [bh, bw] = select_best_resolution(height, width, c.grid_pinpoints);
  return (bh / c.vision.image_size) * (bw / c.vision.image_size) + 1;
}

int64_t image_token_count(const LlavaNextConfig& c, int64_t height, int64_t width) {
  const int64_t g = c.vision.grid();
  const int64_t base = g * g + (c.select_strategy == "full" ? 1 : 0);
  const auto [rows, cols] = unpadded_size(c, height, width);
  return base + rows * (cols + 1);
}

LlavaNextVision load_llava_next_vision(const std::string& model_dir, c10::ScalarType dtype, c10::Device device) {
  const std::string config_path = (std::filesystem::path(model_dir) / "config.json").string();
  LlavaNextVision v;
  v.config = LlavaNextConfig::from_file(config_path);
  const LlavaNextConfig& c = v.config;
  const ClipVisionConfig& vc = c.vision;
  SafetensorsModel model(model_dir);
  // transformers saves CLIP either as CLIPVisionModel ("vision_tower.vision_model.") or as its
  // transformer alone ("vision_tower.").
  std::string tower;
  for (const char* p : {"vision_tower.vision_model.", "vision_tower."})
    if (model.contains(std::string(p) + "embeddings.class_embedding")) tower = p;
  LOWBIT_CHECK(!tower.empty(), model_dir, ": no vision tower (vision_tower.embeddings.class_embedding or "
                               "vision_tower.vision_model.embeddings.class_embedding) in the checkpoint");
  const auto read = [&](const std::string& name, std::vector<int64_t> shape) {
    const TensorSpec spec{name, std::move(shape)};
    check_tensors(model, {spec}, config_path);
    return read_tensor(model, spec, dtype, device);
  };
  const int64_t d = vc.hidden_size, g = vc.grid();
  v.class_embedding = read(tower + "embeddings.class_embedding", {d});
  v.patch_embedding = read(tower + "embeddings.patch_embedding.weight", {d, vc.num_channels, vc.patch_size, vc.patch_size});
  v.position_embedding = read(tower + "embeddings.position_embedding.weight", {g * g + 1, d});
  v.pre_norm_w = read(tower + "pre_layrnorm.weight", {d});
  v.pre_norm_b = read(tower + "pre_layrnorm.bias", {d});
  const int64_t depth = *std::max_element(c.feature_layers.begin(), c.feature_layers.end());
  for (int64_t i = 0; i < depth; ++i) {
    const std::string p = tower + "encoder.layers." + std::to_string(i) + ".";
    ClipLayerWeights l;
    l.norm1_w = read(p + "layer_norm1.weight", {d});
    l.norm1_b = read(p + "layer_norm1.bias", {d});
    l.q_w = read(p + "self_attn.q_proj.weight", {d, d});
    l.q_b = read(p + "self_attn.q_proj.bias", {d});
    l.k_w = read(p + "self_attn.k_proj.weight", {d, d});
    l.k_b = read(p + "self_attn.k_proj.bias", {d});
    l.v_w = read(p + "self_attn.v_proj.weight", {d, d});
    l.v_b = read(p + "self_attn.v_proj.bias", {d});
    l.o_w = read(p + "self_attn.out_proj.weight", {d, d});
    l.o_b = read(p + "self_attn.out_proj.bias", {d});
    l.norm2_w = read(p + "layer_norm2.weight", {d});
    l.norm2_b = read(p + "layer_norm2.bias", {d});
    l.fc1_w = read(p + "mlp.fc1.weight", {vc.intermediate_size, d});
    l.fc1_b = read(p + "mlp.fc1.bias", {vc.intermediate_size});
    l.fc2_w = read(p + "mlp.fc2.weight", {d, vc.intermediate_size});
    l.fc2_b = read(p + "mlp.fc2.bias", {d});
    v.layers.push_back(std::move(l));
  }
  const int64_t text_hidden = c.text.hidden_size, in = d * static_cast<int64_t>(c.feature_layers.size());
  v.projector1_w = read("multi_modal_projector.linear_1.weight", {text_hidden, in});
  v.projector2_w = read("multi_modal_projector.linear_2.weight", {text_hidden, text_hidden});
  if (c.projector_bias) {
    v.projector1_b = read("multi_modal_projector.linear_1.bias", {text_hidden});
    v.projector2_b = read("multi_modal_projector.linear_2.bias", {text_hidden});
  }
  v.image_newline = read("image_newline", {text_hidden});
  return v;
}

at::Tensor image_features(const LlavaNextVision& v, const at::Tensor& pixels, int64_t height, int64_t width) {
  const LlavaNextConfig& c = v.config;
  const ClipVisionConfig& vc = c.vision;
  const int64_t tiles = image_tile_count(c, height, width);
  LOWBIT_CHECK(pixels.dim() == 4 && pixels.size(0) == tiles && pixels.size(1) == vc.num_channels &&
                   pixels.size(2) == vc.image_size && pixels.size(3) == vc.image_size,
               "pixels of a ", height, "x", width, " image must be [", tiles, ", ", vc.num_channels, ", ",
               vc.image_size, ", ", vc.image_size, "] (the image processor's tiles for it), got ", pixels.sizes());
  // Embeddings: patches by a strided convolution, the class token first, learned positions.
  at::Tensor x = at::conv2d(pixels.to(v.patch_embedding.scalar_type()), v.patch_embedding, {}, vc.patch_size);
  x = x.flatten(2).transpose(1, 2);  // [tiles, grid², hidden]
  x = at::cat({v.class_embedding.view({1, 1, -1}).expand({tiles, 1, vc.hidden_size}), x}, 1) + v.position_embedding;
  x = at::layer_norm(x, {vc.hidden_size}, v.pre_norm_w, v.pre_norm_b, vc.layer_norm_eps);
  // hidden_states[0] is the embeddings, [i] the output of layer i.
  std::vector<at::Tensor> selected(c.feature_layers.size());
  for (std::size_t s = 0; s < c.feature_layers.size(); ++s)
    if (c.feature_layers[s] == 0) selected[s] = x;
  for (std::size_t i = 0; i < v.layers.size(); ++i) {
    x = clip_layer(v.layers[i], vc, x);
    for (std::size_t s = 0; s < c.feature_layers.size(); ++s)
      if (c.feature_layers[s] == static_cast<int64_t>(i) + 1) selected[s] = x;
  }
  at::Tensor f = selected.size() == 1 ? selected[0] : at::cat(selected, -1);
  if (c.select_strategy == "default") f = f.slice(1, 1);  // drop CLS
  f = at::linear(at::gelu(at::linear(f, v.projector1_w, v.projector1_b)), v.projector2_w, v.projector2_b);
  // [tiles, tokens per tile, text hidden]
  if (tiles == 1) return at::cat({f[0], v.image_newline.view({1, -1}).to(f.scalar_type())}, 0);
  const auto [bh, bw] = select_best_resolution(height, width, c.grid_pinpoints);
  const int64_t rows = bh / vc.image_size, cols = bw / vc.image_size, g = vc.grid(), hidden = f.size(-1);
  // The tiles as one [hidden, rows·g, cols·g] map, row-major over tiles.
  at::Tensor grid = f.slice(0, 1).reshape({rows, cols, g, g, hidden}).permute({4, 0, 2, 1, 3}).contiguous();
  grid = unpad(grid.view({hidden, rows * g, cols * g}), height, width);
  const at::Tensor newline = v.image_newline.to(grid.scalar_type()).view({hidden, 1, 1}).expand({hidden, grid.size(1), 1});
  grid = at::cat({grid, newline}, -1).flatten(1, 2).transpose(0, 1);  // [rows'·(cols'+1), hidden]
  return at::cat({f[0], grid}, 0);
}

at::Tensor merge_image_features(const at::Tensor& embeds, const at::Tensor& ids, const at::Tensor& features,
                                int64_t image_token_id) {
  const at::Tensor mask = ids.eq(image_token_id);
  const int64_t n = mask.sum().item<int64_t>();
  LOWBIT_CHECK(n == features.size(0), "the prompt has ", n, " image tokens but its images give ", features.size(0),
               " image embeddings");
  at::Tensor out = embeds.clone();
  out.index_put_({mask}, features.to(out.scalar_type()));
  return out;
}

}  // namespace lowbit
