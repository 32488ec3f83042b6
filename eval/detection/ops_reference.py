"""torchvision's outputs for the random inputs of eval/detection/ops_test.cc.

Usage: ops_reference.py INPUTS OUTPUTS. INPUTS is a dict of tensors written by the test with
torch::pickle_save; OUTPUTS gets a dict of tensors (torch.save) that the test reads back.
"""
import sys

import torch
import torch.jit._pickle
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, BoxCoder, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import batched_nms, box_iou, nms, roi_align


def main(inputs_path, outputs_path):
    # torch::pickle_save tags the dict's type with torch.jit._pickle.restore_type_tag.
    with torch.serialization.safe_globals([torch.jit._pickle.restore_type_tag]):
        x = torch.load(inputs_path, weights_only=True)
    out = {}

    # RoIAlign: config = (output_size, spatial_scale, sampling_ratio, aligned, tall features).
    rois = x["roi_align.rois"]
    i = 0
    while f"roi_align.{i}.config" in x:
        size, scale, ratio, aligned, tall = x[f"roi_align.{i}.config"].tolist()
        f = x["roi_align.features_tall" if tall else "roi_align.features"].clone().requires_grad_(True)
        pooled = roi_align(f, rois, int(size), scale, int(ratio), bool(aligned))
        out[f"roi_align.{i}"] = pooled.detach()
        pooled.backward(x[f"roi_align.{i}.grad_output"])
        out[f"roi_align.{i}.grad"] = f.grad
        i += 1

    # NMS and batched NMS at each threshold.
    boxes, scores, labels = x["nms.boxes"], x["nms.scores"], x["nms.labels"]
    for j, threshold in enumerate(x["nms.thresholds"].tolist()):
        out[f"nms.{j}"] = nms(boxes, scores, threshold)
        out[f"batched_nms.{j}"] = batched_nms(boxes, scores, labels, threshold)

    out["iou"] = box_iou(x["iou.a"], x["iou.b"])

    # Anchors: config = (feature_h, feature_w, stride).
    i = 0
    while f"anchors.{i}.config" in x:
        h, w, stride = x[f"anchors.{i}.config"].tolist()
        generator = AnchorGenerator(sizes=(tuple(x[f"anchors.{i}.sizes"].tolist()),),
                                    aspect_ratios=(tuple(x[f"anchors.{i}.ratios"].tolist()),))
        images = ImageList(torch.zeros(1, 3, h * stride, w * stride), [(h * stride, w * stride)])
        out[f"anchors.{i}"] = generator(images, [torch.zeros(1, 1, h, w)])[0]
        i += 1

    coder = BoxCoder(weights=tuple(x["coder.weights"].tolist()))
    out["coder.encoded"] = coder.encode_single(x["coder.targets"], x["coder.proposals"])
    out["coder.decoded"] = coder.decode_single(x["coder.deltas"], x["coder.proposals"])

    # Matcher: config = (high, low, allow_low_quality).
    i = 0
    while f"matcher.{i}.config" in x:
        high, low, allow = x[f"matcher.{i}.config"].tolist()
        out[f"matcher.{i}"] = Matcher(high, low, bool(allow))(x["matcher.iou"])
        i += 1

    # Sampler: config = (seed, batch, positive_fraction); masks of the sampled indices.
    seed, batch, fraction = x["sampler.config"].tolist()
    torch.manual_seed(int(seed))
    positive, negative = BalancedPositiveNegativeSampler(int(batch), fraction)([x["sampler.labels"]])
    out["sampler.positive"] = positive[0].to(torch.uint8)
    out["sampler.negative"] = negative[0].to(torch.uint8)

    torch.save(out, outputs_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
