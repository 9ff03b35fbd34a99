"""The report of a finished run: the model at its best validation epoch against the baselines,
every metric with its 95% bootstrap interval, paired differences against popularity, and the
per-user ranks behind them (so any page can compare runs on the same users later).

Files written into the run folder (chief process only): results.md / results.json (the tables),
per_user_ranks.npz (for every row, each user's target rank, -1 = not ranked, keyed
"<split>|<model>", and "<split>|users", the users' rows in the dataset), history.json and
run_summary.json.
"""

from __future__ import annotations

import io
import json
import time

import jax
import numpy as np
from etils import epath

from recall_jax import paths
from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.estimates import (full_ranking_per_user, full_ranking_row,
                                             paired_difference_row)
from recall_jax.evaluation.model_evaluation import (evaluate_model, evaluation_exclusions,
                                                    sampled_evaluation_ranking)
from recall_jax.evaluation.protocol import (OPTIMISTIC_POLICIES, describe_policy,
                                            targets_in_history)
from recall_jax.evaluation.report import headline_columns, write_report
from recall_jax.evaluation.sampled import describe_sampled
from recall_jax.retrieval.baselines import (content_similarity_ranking, popularity_ranking,
                                           popularity_scores)

POPULARITY = "popularity"
PER_USER_FILE = "per_user_ranks.npz"


def model_label(model_config) -> str:
    """The model column of the tables, e.g. "sasrec" or "sasrec (id+text)"."""
    tower = model_config.item_tower
    return model_config.name + ("" if tower == "id" else f" ({tower})")


def repeat_share(evaluation_set) -> float:
    histories = evaluation_set.histories
    return float(np.mean(targets_in_history(histories.offsets, histories.items,
                                            evaluation_set.targets)))


def protocol_line(config, dataset, split, progress) -> str:
    """How every number of the run was obtained, as the results pages print it."""
    eval_config = config.eval
    scores = ("fixed-order fp32 dot products (audit mode)" if eval_config.audit_scores
              else "fp32 dot products (matmul, precision HIGHEST)")
    ranking = (f"full ranking over all {dataset.num_items:,} items, "
               f"{describe_policy(eval_config.seen_items)}"
               if eval_config.protocol == "full" else describe_sampled(eval_config))
    line = (f"{dataset.name}: {split.protocol}, {ranking}; "
            f"{repeat_share(split.test):.1%} of test targets "
            f"({repeat_share(split.validation):.1%} of validation targets) repeat a history "
            f"item. Scores: {scores}; equal scores ordered by item id. Intervals: 95% "
            f"percentile bootstrap over users ({eval_config.bootstrap_resamples} resamples, "
            f"seed {eval_config.bootstrap_seed}). Model at its best validation epoch "
            f"({progress['best_epoch']}) by {config.train.selection_metric}, "
            f"{len(progress['history'])} of {config.train.num_epochs} scheduled epochs run "
            f"(seed {config.seed}).")
    if progress["truncated"]:
        line += (f" TRUNCATED: stopped by the wall-clock safety limit "
                 f"(train.max_train_minutes={config.train.max_train_minutes:g}), so this model "
                 "depends on the speed of the machine.")
    fallbacks = progress.get("checkpoint_fallbacks", [])
    if fallbacks:
        line += (f" Resumed past {len(fallbacks)} invalid checkpoint(s), training again from "
                 "the newest valid one (details in run_summary.json).")
    return line


def epoch_time_breakdown(history: list[dict]) -> dict[str, float]:
    """Median seconds per epoch of training steps, validation and checkpointing (over the
    epochs that recorded each), and validation's share of an evaluated epoch."""
    def median(key: str) -> float:
        values = [record[key] for record in history if key in record]
        return float(np.median(values)) if values else 0.0
    steps = median("train_step_seconds") or median("seconds")
    validation, checkpoint = median("validation_seconds"), median("checkpoint_seconds")
    total = steps + validation + checkpoint
    return {"train_step_seconds": steps, "validation_seconds": validation,
            "checkpoint_seconds": checkpoint,
            "validation_share": validation / total if total else 0.0}


def describe_time_breakdown(breakdown: dict[str, float]) -> str:
    return (f"Time per epoch (median, this machine): training steps "
            f"{breakdown['train_step_seconds']:.1f} s, validation "
            f"{breakdown['validation_seconds']:.1f} s ({breakdown['validation_share']:.0%} of an "
            f"evaluated epoch), checkpoint {breakdown['checkpoint_seconds']:.1f} s.")


def _write_per_user(path: epath.Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    paths.write_bytes_atomically(path, buffer.getvalue())


def final_report(config, model, params, split, dataset, progress, workdir, mesh=None,
                 started: float | None = None, cold_items: np.ndarray | None = None,
                 text_vectors: np.ndarray | None = None) -> dict:
    """Validation and test rows for the model at its best epoch, with the popularity baseline
    (and, given the item text vectors, the training-free text-similarity baseline); with
    cold-start items, test rows for warm and cold targets as well."""
    workdir = paths.as_path(workdir)
    eval_config = config.eval
    ks = tuple(eval_config.ks)
    max_k = max(ks)
    name = model_label(config.model)
    sampled = eval_config.protocol == "sampled"
    rows, differences, per_user_ranks = [], [], {}
    for split_name, evaluation_set in (("validation", split.validation), ("test", split.test)):
        _, result = evaluate_model(model, params, evaluation_set, eval_config,
                                   config.train.bucket_lengths, mesh)
        exclusions = evaluation_exclusions(evaluation_set, eval_config.seen_items)
        if sampled:  # popularity meets the same sampled negatives: user [1] x item [count]
            popularity = sampled_evaluation_ranking(
                np.ones((evaluation_set.num_users, 1), np.float32),
                popularity_scores(split.train.items, dataset.num_items)[:, None],
                evaluation_set, eval_config)
        else:
            popularity = popularity_ranking(split.train.items, dataset.num_items,
                                            evaluation_set.targets, exclusions, max_k=max_k)
        rankings = [(name, result), (POPULARITY, popularity)]
        if text_vectors is not None and not sampled:
            histories = evaluation_set.histories
            rankings.append((
                f"text similarity (last {eval_config.content_history}, untrained)",
                content_similarity_ranking(text_vectors, histories.offsets, histories.items,
                                           evaluation_set.targets, exclusions,
                                           eval_config.content_history, max_k=max_k)))
        groups = [(split_name, np.arange(evaluation_set.num_users))]
        if cold_items is not None and split_name == "test":
            is_cold = cold_items[evaluation_set.targets]
            groups += [("test (warm targets)", np.flatnonzero(~is_cold)),
                       ("test (cold targets)", np.flatnonzero(is_cold))]
        for group, members in groups:
            if not len(members):
                continue
            bootstrap = Bootstrap.draw(len(members), eval_config.bootstrap_resamples,
                                       eval_config.bootstrap_seed)
            per_user = {}
            for label, ranking in rankings:
                ranking = ranking.subset(members)
                rows.append(full_ranking_row({"model": label, "split": group}, ranking, ks,
                                             dataset.num_items, bootstrap))
                per_user[label] = full_ranking_per_user(ranking, ks)
                per_user_ranks[f"{group}|{label}"] = ranking.target_ranks
            per_user_ranks[f"{group}|users"] = evaluation_set.user_index[members]
            for label, _ in rankings:
                if label != POPULARITY:
                    differences.append(paired_difference_row(
                        {"model": label, "split": group}, POPULARITY, per_user[label],
                        per_user[POPULARITY], bootstrap, headline_columns(ks)))

    protocol = protocol_line(config, dataset, split, progress)
    title = f"{config.model.name} on {dataset.name}"
    if eval_config.seen_items in OPTIMISTIC_POLICIES:
        title += " (OPTIMISTIC seen-item rule)"
    if sampled:
        title += f" (SAMPLED protocol: {eval_config.sampled_negatives} negatives)"
    if progress["truncated"]:
        title += " (TRUNCATED by the wall-clock limit)"
    report = {"rows": rows, "differences": differences, "protocol": protocol,
              "best_epoch": progress["best_epoch"], "train_seconds": progress["train_seconds"],
              "wall_seconds": progress["wall_seconds"], "epochs_run": len(progress["history"]),
              "truncated": progress["truncated"], "history": progress["history"]}
    if jax.process_index() == 0:
        breakdown = epoch_time_breakdown(progress["history"])
        write_report(rows, workdir, title=title, protocol_note=protocol,
                     command=config.command, columns=headline_columns(ks),
                     differences=differences,
                     difference_metrics=[f"{m}@{k}" for k in ks for m in ("HR", "NDCG")],
                     notes=[describe_time_breakdown(breakdown)] if progress["history"] else [])
        _write_per_user(workdir / PER_USER_FILE, per_user_ranks)
        paths.write_text_atomically(workdir / "history.json",
                                    json.dumps(progress["history"], indent=1))
        summary = {key: report[key] for key in ("best_epoch", "train_seconds", "wall_seconds",
                                                "epochs_run", "truncated")}
        summary.update(
            scheduled_epochs=config.train.num_epochs, seed=config.seed,
            invocation_seconds=(time.perf_counter() - started) if started is not None else None,
            devices=[str(device) for device in jax.devices()], jax_version=jax.__version__,
            command=config.command, epoch_time_breakdown=breakdown,
            checkpoint_fallbacks=progress.get("checkpoint_fallbacks", []))
        paths.write_text_atomically(workdir / "run_summary.json", json.dumps(summary, indent=1))
    return report
