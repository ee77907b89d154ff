"""Perplexity of a causal language model over blocks of token ids: an `evaluate` metric module that lives in the
project and is loaded by path, `evaluate.load("core/evaluation/metrics/perplexity")` (loading by name asks the hub).

The inputs are the blocks themselves, not texts: the lab evaluates on exactly the packed blocks training uses
(`core.data.chunking.pack`), so the number here and the trainer's validation loss measure the same thing. Within a block,
position i predicts token i+1; the first token of a block is never a target, so a block of B tokens predicts B-1.

Self-contained on purpose: `evaluate` copies this file into its modules cache and imports it from there, so it
imports only libraries (no `core`, no relative imports).
"""

import math

import datasets
import evaluate
import torch

_DESCRIPTION = """\
Perplexity = exp(mean negative log-likelihood per predicted token) of a causal language model, over blocks of token
ids. Every token of a block but the first is predicted from the tokens before it in the same block.
"""

_KWARGS_DESCRIPTION = """
Args:
    input_ids (`list[list[int]]`): the blocks of token ids (packed blocks are all one length; shorter blocks are
        padded inside a batch and the padding is neither attended to nor predicted).
    model: a loaded causal language model (`AutoModelForCausalLM`), or a hub id or directory to load one from.
    batch_size (`int`, defaults to 8): blocks per forward pass.
    device (`str`, optional): where to run; defaults to the model's own device (a loaded model) or CUDA when
        available (a model loaded here).
Returns:
    perplexity (`float` or `None`): exp(mean_nll); None when mean_nll is too large to exponentiate (above 700).
    mean_nll (`float`): the summed negative log-likelihood (nats) over the predicted tokens, divided by `tokens`.
    tokens (`int`): predicted tokens, sum(len(block) - 1).
Examples:
    >>> metric = evaluate.load("core/evaluation/metrics/perplexity")
    >>> metric.compute(input_ids=[[464, 3290, 3332, 13]], model="gpt2")  # doctest: +SKIP
"""

_CITATION = """\
@article{jelinek1977perplexity,
  title={Perplexity--a measure of the difficulty of speech recognition tasks},
  author={Jelinek, Fred and Mercer, Robert L and Bahl, Lalit R and Baker, James K},
  journal={The Journal of the Acoustical Society of America}, volume={62}, number={S1}, pages={S63--S63}, year={1977}
}
"""

MAX_NLL = 700.0  # exp() of more overflows a float; such a model has no useful perplexity anyway


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"input_ids": datasets.Sequence(datasets.Value("int32"))}),
            reference_urls=["https://huggingface.co/docs/transformers/perplexity"],
        )

    def _compute(self, input_ids, model=None, batch_size=8, device=None):
        if model is None:
            raise ValueError("perplexity needs a model: compute(input_ids=..., model=<a causal LM, hub id or directory>)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        model = _as_model(model, device)
        device = torch.device(device) if device else next(model.parameters()).device
        was_training = model.training
        model.eval()
        total_nll, tokens = 0.0, 0
        try:
            with torch.inference_mode():
                for start in range(0, len(input_ids), batch_size):
                    nll, count = _batch_nll(model, input_ids[start:start + batch_size], device)
                    total_nll, tokens = total_nll + nll, tokens + count
        finally:
            model.train(was_training)
        if tokens == 0:
            raise ValueError("no token to predict: give blocks of at least 2 tokens")
        mean_nll = total_nll / tokens
        return {"perplexity": math.exp(mean_nll) if mean_nll <= MAX_NLL else None, "mean_nll": mean_nll,
                "tokens": tokens}


def _as_model(model, device):
    if isinstance(model, torch.nn.Module):
        return model.to(device) if device else model
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(model))
    return loaded.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _batch_nll(model, blocks, device):
    """(summed NLL in nats as a Python float, predicted tokens) for one batch of blocks."""
    lengths = [len(block) for block in blocks]
    width = max(lengths)
    ids = torch.zeros((len(blocks), width), dtype=torch.long)
    mask = torch.zeros((len(blocks), width), dtype=torch.long)
    for row, block in enumerate(blocks):
        ids[row, :len(block)] = torch.as_tensor(block, dtype=torch.long)
        mask[row, :len(block)] = 1
    ids, mask = ids.to(device), mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits
    total, count = 0.0, 0
    for row in range(len(blocks)):  # one row at a time: the float32 log-softmax of a whole batch is large
        n = lengths[row] - 1
        if n < 1:
            continue
        losses = torch.nn.functional.cross_entropy(logits[row, :n].float(), ids[row, 1:n + 1], reduction="sum")
        total += losses.double().item()
        count += n
    return total, count
