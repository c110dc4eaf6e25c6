"""A tiny, randomly initialised CLIP saved like a real one, for tests without a model hub.

The folder holds ``config.json`` + weights, a genuine ``CLIPTokenizer`` (byte-level BPE)
and a CLIP image processor, so ``ClipEmbedder`` loads it through the ``Auto*`` classes
exactly as it loads ``openai/clip-vit-base-patch32``. The vectors mean nothing; the
plumbing (tokenising, eos pooling, projection, normalisation) is real.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

try:  # transformers 5 without torchvision: the PIL backend is the one that loads.
    from transformers import CLIPImageProcessorPil as ImageProcessor
except ImportError:  # transformers 4.x
    from transformers import CLIPImageProcessor as ImageProcessor

IMAGE_SIZE = 32
MAX_TOKENS = 32
PROJECTION_DIM = 16


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    codes = {b: b for b in printable}
    for extra, b in enumerate(b for b in range(256) if b not in codes):
        codes[b] = 256 + extra
    return [chr(codes[b]) for b in range(256)]


def _tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer from a byte-level BPE vocab written to ``folder``.

    The vocab is every byte symbol, alone and as a word end (``</w>``), the two
    specials, and a few merges so the BPE path runs as well as the byte fallback.
    Loading the files through ``from_pretrained`` works in transformers 4 and 5 (5's
    constructor takes in-memory vocab and tuple merges instead of file names).
    """
    symbols = _byte_symbols()
    merges = [("t", "h"), ("th", "e</w>"), ("c", "a"), ("ca", "t</w>")]
    tokens = [*symbols, *(s + "</w>" for s in symbols), "<|startoftext|>", "<|endoftext|>",
              *("".join(pair) for pair in merges)]
    (folder / "vocab.json").write_text(
        json.dumps({token: i for i, token in enumerate(tokens)}), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return CLIPTokenizer.from_pretrained(folder, model_max_length=MAX_TOKENS)


def save_tiny_clip(folder: Path) -> Path:
    """Build a tiny random CLIP (2 layers, hidden 32, 16-d projection) and save it.

    Args:
        folder: Where to write the model, tokenizer and image processor (created).

    Returns:
        ``folder``, ready for ``ClipEmbedder(..., source=str(folder), ...)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(folder)
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2}
    config = CLIPConfig(
        # The text tower pools at the first eos token, so its id must be the
        # tokenizer's (which also pads with it).
        text_config={**tower, "vocab_size": len(tokenizer), "max_position_embeddings": MAX_TOKENS,
                     "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={**tower, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                   crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(folder)
    return folder
