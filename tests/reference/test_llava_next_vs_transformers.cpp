// LLaVA-NeXT against transformers (make_llava_next_cases.py): a small random
// LlavaNextForConditionalGeneration, sharded; the image processor's pixels for a wide, a tall and a
// square image. The packed image features (CLIP penultimate layer -> projector -> anyres unpad +
// newline) and their count, then the logits of a two-image prompt through lowbit's LLaMA with the
// features merged, against transformers' on the same pixels and ids.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>

#include "evaluation/generation.h"
#include "framework/core/error.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "framework/model/llava_next.h"
#include "framework/model/safetensors.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

std::string cases_dir() { return test::reference_dir() + "/llava-next"; }

at::Tensor load(const SafetensorsFile& cases, const std::string& name) { return test::case_tensor(cases, name); }

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

TEST(LlavaNextVsTransformers, ImageFeaturesOfEveryShape) {
  const LlavaNextVision vision = load_llava_next_vision(cases_dir() + "/model");
  const SafetensorsFile cases(cases_dir() + "/cases.safetensors");
  for (int i = 0; i < 3; ++i) {
    const std::string p = "image" + std::to_string(i) + ".";
    const at::Tensor size = load(cases, p + "size"), expected = load(cases, p + "features");
    const int64_t h = size[0].item<int64_t>(), w = size[1].item<int64_t>();
    EXPECT_EQ(image_token_count(vision.config, h, w), expected.size(0)) << h << "x" << w;
    const at::Tensor got = image_features(vision, load(cases, p + "pixel_values"), h, w);
    ASSERT_EQ(got.sizes(), expected.sizes()) << h << "x" << w;
    const double diff = relative_difference(got, expected);
    std::printf("image %lldx%lld: %lld features, largest difference %.2e of the largest value\n",
                static_cast<long long>(h), static_cast<long long>(w), static_cast<long long>(got.size(0)), diff);
    EXPECT_LT(diff, 1e-5) << h << "x" << w;
  }
}

// The features of the prompt's two images (0 and 1), computed by lowbit.
std::vector<at::Tensor> prompt_image_features(const LlavaNextVision& vision, const SafetensorsFile& cases) {
  std::vector<at::Tensor> features;
  for (int i = 0; i < 2; ++i) {
    const std::string p = "image" + std::to_string(i) + ".";
    const at::Tensor size = load(cases, p + "size");
    features.push_back(image_features(vision, load(cases, p + "pixel_values"), size[0].item<int64_t>(),
                                      size[1].item<int64_t>()));
  }
  return features;
}

TEST(LlavaNextVsTransformers, PromptLogitsWithTwoImages) {
  const std::string model_dir = cases_dir() + "/model";
  const LlavaNextVision vision = load_llava_next_vision(model_dir);
  const LlamaWeights lm = load_llama(model_dir);
  EXPECT_EQ(lm.config.model_type, "llava_next");
  const SafetensorsFile cases(cases_dir() + "/cases.safetensors");
  const std::vector<at::Tensor> features = prompt_image_features(vision, cases);
  const at::Tensor ids = load(cases, "prompt.input_ids");
  const at::Tensor embeds = merge_image_features(embed(lm, ids.unsqueeze(0))[0], ids, at::cat(features, 0),
                                                 vision.config.image_token_id);
  const at::Tensor logits = head(lm, blocks_forward(lm, embeds.unsqueeze(0)))[0];
  const at::Tensor expected = load(cases, "prompt.logits");
  ASSERT_EQ(logits.sizes(), expected.sizes());
  std::printf("logits of %lld tokens: largest difference %.2e of the largest value\n",
              static_cast<long long>(ids.size(0)), relative_difference(logits, expected));
  EXPECT_LT(relative_difference(logits, expected), 1e-4);
  // The images matter: without them (image-token embeddings left as they are) the logits differ.
  const at::Tensor plain = head(lm, blocks_forward(lm, embed(lm, ids.unsqueeze(0))))[0];
  EXPECT_GT(relative_difference(plain, expected), 1e-2);
  EXPECT_THROW(merge_image_features(embed(lm, ids.unsqueeze(0))[0], ids, features[0], vision.config.image_token_id),
               Error);
}

std::vector<int32_t> ids_of(const at::Tensor& t) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < t.size(0); ++i) out.push_back(static_cast<int32_t>(t[i].item<int64_t>()));
  return out;
}

TEST(LlavaNextVsTransformers, GreedyGenerationEqualsGenerateAloneAndBatched) {
  const std::string model_dir = cases_dir() + "/model";
  const LlavaNextVision vision = load_llava_next_vision(model_dir);
  const LlamaWeights lm = load_llama(model_dir);
  const SafetensorsFile cases(cases_dir() + "/cases.safetensors");
  const std::vector<at::Tensor> features = prompt_image_features(vision, cases);
  const at::Tensor ids = load(cases, "prompt.input_ids");
  GenerationRequest image_prompt{ids_of(ids), {}, 32};
  image_prompt.embeds = merge_image_features(embed(lm, ids.unsqueeze(0))[0], ids, at::cat(features, 0),
                                             vision.config.image_token_id);
  const std::vector<int32_t> expected = ids_of(load(cases, "prompt.generated"));
  GenerationOptions options;
  options.batch = 1;
  EXPECT_EQ(generate_greedy(lm, single_rank(), {image_prompt}, options)[0], expected);
  // In one batch with two shorter text prompts (left-padded by 93 and 60 positions): every row as
  // transformers generates it alone.
  std::vector<GenerationRequest> requests{{ids_of(load(cases, "text0.input_ids")), {}, 16}, image_prompt,
                                          {ids_of(load(cases, "text1.input_ids")), {}, 16}};
  options.batch = 3;
  const std::vector<std::vector<int32_t>> got = generate_greedy(lm, single_rank(), requests, options);
  EXPECT_EQ(got[0], ids_of(load(cases, "text0.generated")));
  EXPECT_EQ(got[1], expected);
  EXPECT_EQ(got[2], ids_of(load(cases, "text1.generated")));
  // A stop id ends a row without being returned; the budget ends it too.
  std::size_t first_new = 1;  // the first token that did not occur before it
  while (first_new < expected.size() &&
         std::find(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(first_new), expected[first_new]) !=
             expected.begin() + static_cast<std::ptrdiff_t>(first_new))
    ++first_new;
  ASSERT_LT(first_new, expected.size());
  options.stop_ids = {expected[first_new]};
  const auto stopped = generate_greedy(lm, single_rank(), {image_prompt}, options)[0];
  EXPECT_EQ(stopped, std::vector<int32_t>(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(first_new)));
  options.stop_ids = {};
  image_prompt.max_new_tokens = 3;
  EXPECT_EQ(generate_greedy(lm, single_rank(), {image_prompt}, options)[0],
            std::vector<int32_t>(expected.begin(), expected.begin() + 3));
}

}  // namespace
}  // namespace lowbit
