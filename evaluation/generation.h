// Greedy generation over the layer-wise pipeline, with a key/value cache on every rank: rank 0
// embeds a batch of prompts (left-padded; a prompt may bring its own embeddings, e.g. LLaVA's with
// image features merged) and streams the hidden states through every rank's blocks (the prefill),
// the last rank picks each row's most likely next token and sends the tokens back to rank 0, which
// embeds them and starts the next step: one token per step, hop by hop, each block attending to
// its cached keys/values. A row stops at one of the stop ids or at its token budget; the batch ends
// when every row has. Batches are made the same way whatever the world size (longest prompts first),
// so 1, 2 or 3 ranks generate the same tokens. Device-generic: each rank computes on its weights'
// device; token ids and control messages stay on the host.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "framework/model/llama_weights.h"

namespace lowbit {

class Communicator;

struct GenerationRequest {
  std::vector<int32_t> ids;  // the prompt, at least one token
  // Rank 0, optional: the prompt's input embeddings [ids.size(), hidden] to use instead of the token
  // embeddings (LLaVA-NeXT: image features in place of the image tokens).
  at::Tensor embeds;
  int64_t max_new_tokens = 16;
};

struct GenerationOptions {
  int64_t batch = 8;               // prompts per batch
  std::vector<int32_t> stop_ids;   // a row ends after generating one of these (not returned)
  // Rank 0, optional: makes a request's input embeddings when its batch starts (instead of
  // GenerationRequest::embeds, so only one batch's embeddings exist at a time); an undefined tensor
  // means the token embeddings.
  std::function<at::Tensor(std::size_t request)> prompt_embeds;
  // Called on rank 0 after each batch with (requests done, total).
  std::function<void(int64_t, int64_t)> progress;
};

// Collective: every rank calls it with its part of the model; `requests` are read on rank 0 only.
// Returns each request's generated ids on rank 0 (empty elsewhere), in request order.
std::vector<std::vector<int32_t>> generate_greedy(const LlamaWeights& w, Communicator& comm,
                                                  const std::vector<GenerationRequest>& requests,
                                                  const GenerationOptions& options);

}  // namespace lowbit
