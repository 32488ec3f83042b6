"""pycocotools' COCO box metrics, the reference coco_eval_test compares CocoEvaluate with.

usage: coco_eval_reference.py OUT_JSON GT_JSON DT_JSON [GT_JSON DT_JSON ...]

For each (GT_JSON, DT_JSON) pair, runs COCO(GT_JSON), loadRes(DT_JSON), COCOeval(..., "bbox")
evaluate / accumulate / summarize, and writes {"stats": [[12 numbers], ...]} to OUT_JSON:
COCOeval.stats in pycocotools' units (fractions; -1 where a metric is undefined).
"""
import contextlib
import io
import json
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def evaluate(gt_path, dt_path):
    with open(dt_path) as f:
        detections = json.load(f)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO(gt_path)
        dt = gt.loadRes(detections)
        coco_eval = COCOeval(gt, dt, "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return [float(x) for x in coco_eval.stats]


def main(argv):
    if len(argv) < 4 or len(argv) % 2 != 0:
        sys.exit(__doc__)
    pairs = zip(argv[2::2], argv[3::2])
    stats = [evaluate(gt, dt) for gt, dt in pairs]
    with open(argv[1], "w") as f:
        json.dump({"stats": stats}, f)


if __name__ == "__main__":
    main(sys.argv)
