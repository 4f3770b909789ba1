"""Image (and text) encoders that turn frames into unit embeddings.

Two kinds, chosen by an ``EncoderSpec`` and always named in the output:

* ``open_clip``: a real CLIP model from open_clip, by model name plus a
  pretrained tag (downloaded by open_clip when online access is allowed) or a
  local weights file. Semantic.
* ``deterministic``: the offline default for the demo and the tests. A fixed,
  seeded random projection of a small, centred thumbnail. It is smooth in
  image space (similar frames get similar embeddings), so every later stage
  works, but it is NOT semantic: text steering with it moves along arbitrary
  directions. Its label says so everywhere it is reported.

Nothing falls back silently: a missing weights file or a blocked download is
an AliveError that says what to supply instead.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import Config
from ..errors import AliveError

DETERMINISTIC_LABEL = "deterministic-v1 (NON-SEMANTIC offline encoder: not CLIP)"


@dataclass
class EncoderSpec(Config):
    WHAT = "encoder"
    kind: str = "deterministic"          # 'deterministic' | 'open_clip'
    model: str = ""                      # open_clip model name, e.g. 'ViT-B-32'
    pretrained: str = ""                 # tag (e.g. 'laion2b_s34b_b79k') or a weights file path
    config: str = ""                     # optional open_clip model-config JSON (custom models)
    dim: int = 512                       # deterministic encoder's embedding size
    allow_download: bool = False         # open_clip may fetch weights from the hub


    def identity(self) -> dict:
        """What makes two encoders the same (for cache keys and manifests)."""
        if self.kind == "deterministic":
            return {"kind": self.kind, "dim": self.dim, "version": 1}
        ident = {"kind": self.kind, "model": self.model, "pretrained": self.pretrained}
        if self.pretrained and Path(self.pretrained).is_file():
            st = Path(self.pretrained).stat()
            ident["weights_size"] = st.st_size
            ident["weights_mtime"] = int(st.st_mtime)
        return ident


class DeterministicEncoder:
    """Fixed random projection of a 24x24 thumbnail (plus its gradients)."""

    semantic = False
    thumb = 24

    def __init__(self, dim: int = 512, seed: int = 20240611):
        self.dim = int(dim)
        self.label = DETERMINISTIC_LABEL
        rng = np.random.default_rng(seed)
        n_in = self.thumb * self.thumb * 3
        self._proj = (rng.standard_normal((n_in, self.dim)) / np.sqrt(n_in)).astype(np.float32)
        self._bias = rng.standard_normal(self.dim).astype(np.float32) * 0.5

    def _thumb(self, img: np.ndarray) -> np.ndarray:
        """Area-resample an (H, W, 3) image in [0,1] to thumb x thumb."""
        H, W = img.shape[:2]
        t = self.thumb
        ys = (np.arange(H) * t // H)
        xs = (np.arange(W) * t // W)
        acc = np.zeros((t, t, 3), np.float64)
        cnt = np.zeros((t, t, 1), np.float64)
        np.add.at(acc, (ys[:, None], xs[None, :]), img[..., :3])
        np.add.at(cnt, (ys[:, None], xs[None, :]), 1.0)
        return (acc / np.maximum(cnt, 1.0)).astype(np.float32)

    def encode_images(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        images = _as_float_images(images)
        feats = np.stack([self._thumb(im) for im in images]).reshape(len(images), -1)
        feats = (feats - 0.5) * 4.0
        emb = feats @ self._proj + self._bias
        return _normalize(emb)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.strip().lower().encode()).digest()[:8], "little")
            out.append(np.random.default_rng(seed).standard_normal(self.dim))
        return _normalize(np.asarray(out, np.float32))


class OpenClipEncoder:
    """open_clip model by name + pretrained tag or local weights file."""

    semantic = True

    def __init__(self, spec: EncoderSpec, device: str = "cpu"):
        import torch
        try:
            import open_clip
        except Exception as err:  # pragma: no cover - depends on the environment
            raise AliveError(f"open_clip cannot be imported: {err}",
                             "install open_clip_torch (and a torch/torchvision pair that match)") from None
        if spec.config:
            cfg = Path(spec.config)
            if not cfg.is_file():
                raise AliveError(f"open_clip model config not found: '{cfg}'", "give the path of a model-config JSON")
            open_clip.add_model_config(cfg)
        if spec.model not in open_clip.list_models():
            raise AliveError(f"unknown open_clip model '{spec.model}'",
                             "see open_clip.list_models() for names, e.g. ViT-B-32")
        pretrained = spec.pretrained or None
        if pretrained and _looks_like_path(pretrained):
            if not Path(pretrained).expanduser().is_file():
                raise AliveError(f"CLIP weights file not found: '{pretrained}'",
                                 "give an existing .pt/.bin/.safetensors file, or a pretrained tag")
            pretrained = str(Path(pretrained).expanduser())
        kwargs = {}
        if pretrained and not _looks_like_path(pretrained) and not spec.allow_download:
            # a tag means a download (and open_clip asks the hub even when the file is cached):
            # offline, load the cached file itself, so no request is made at all
            cached = _cached_weights(open_clip, spec.model, pretrained)
            if cached is None:
                raise AliveError(
                    f"CLIP weights '{spec.model}/{pretrained}' are not on this machine and downloads are off",
                    "allow online access, or download the weights elsewhere and give their file path "
                    "as the pretrained setting")
            cfg = open_clip.get_pretrained_cfg(spec.model, pretrained)
            kwargs = {"image_mean": cfg.get("mean"), "image_std": cfg.get("std"),
                      "force_quick_gelu": bool(cfg.get("quick_gelu", False))}
            pretrained = cached
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(spec.model, pretrained=pretrained, **kwargs)
        except AliveError:
            raise
        except Exception as err:
            raise AliveError(f"could not load CLIP '{spec.model}' with weights '{spec.pretrained}': {err}",
                             "check that the weights match the model name") from None
        self.model = model.eval().to(device)
        self.device = device
        self.tokenizer = open_clip.get_tokenizer(spec.model)
        size = model.visual.image_size
        self.image_size = size if isinstance(size, int) else int(size[0])
        mean = getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
        std = getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.dim = int(getattr(model, "embed_dim", 0) or model.text_projection.shape[-1])
        self.label = f"open_clip {spec.model} / {spec.pretrained or 'random init'}"
        if not spec.pretrained:
            self.semantic = False
            self.label += " (NO WEIGHTS: random, non-semantic)"

    def encode_images(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        import torch
        import torch.nn.functional as F
        images = _as_float_images(images)
        out = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size][..., :3])).permute(0, 3, 1, 2)
                # CLIP's own preprocessing on tensors: resize the short side, centre crop, normalise
                h, w = x.shape[-2:]
                s = self.image_size / min(h, w)
                x = F.interpolate(x, size=(max(self.image_size, round(h * s)), max(self.image_size, round(w * s))),
                                  mode="bicubic", align_corners=False, antialias=True)
                h, w = x.shape[-2:]
                top, left = (h - self.image_size) // 2, (w - self.image_size) // 2
                x = x[..., top:top + self.image_size, left:left + self.image_size].clamp(0, 1)
                x = (x - self._mean) / self._std
                out.append(self.model.encode_image(x.to(self.device)).float().cpu().numpy())
        return _normalize(np.concatenate(out))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        import torch
        with torch.no_grad():
            tokens = self.tokenizer(list(texts)).to(self.device)
            return _normalize(self.model.encode_text(tokens).float().cpu().numpy())


def make_encoder(spec: EncoderSpec, device: str = "cpu"):
    if spec.kind == "deterministic":
        return DeterministicEncoder(dim=spec.dim)
    if spec.kind == "open_clip":
        if not spec.model:
            raise AliveError("no CLIP model name given", "set the model name, e.g. ViT-B-32")
        return OpenClipEncoder(spec, device=device)
    raise AliveError(f"unknown encoder kind '{spec.kind}'", "use 'deterministic' or 'open_clip'")


def _looks_like_path(s: str) -> bool:
    return os.sep in s or "/" in s or s.endswith((".pt", ".pth", ".bin", ".safetensors", ".ckpt"))


def _cached_weights(open_clip, model: str, tag: str):
    """The file the weights for ``tag`` were downloaded to before, or None.
    Looks in the caches only: no network call."""
    try:
        cfg = open_clip.get_pretrained_cfg(model, tag)
    except Exception:
        return None
    if not cfg:
        return None
    hub = cfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        parts = hub.strip("/").split("/")
        repo_id, sub = "/".join(parts[:2]), "/".join(parts[2:])
        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            filename = f"{sub}/{name}" if sub else name
            hit = try_to_load_from_cache(repo_id=repo_id, filename=filename)
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
        return None
    url = cfg.get("url", "")
    if url:
        path = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        return path if os.path.isfile(path) else None
    return None


def _as_float_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
