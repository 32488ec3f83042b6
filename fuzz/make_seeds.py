"""Writes the fuzzers' seed corpora from the real datasets (tools/fuzz.sh runs this).

  python fuzz/make_seeds.py DATA_DIR FASHION_MNIST_DIR OUT_DIR

OUT_DIR/<fuzzer>/ gets a few small files per fuzzer: CIFAR-10 JPEGs as they are and re-encoded
(grayscale, progressive); Penn-Fudan masks, and crops of its photographs as RGB, gray,
16-bit and interlaced PNGs; Fashion-MNIST idx headers with their first images; CIFAR binary
records built from the JPEGs; Penn-Fudan annotation files, and the same boxes as COCO JSON
and VOC XML; every configs/**/*.pbtxt; small torch.save files (zip and legacy). Small, because libFuzzer mutates around the size of
its seeds. Needs Pillow and torch (the venv of tools/setup.sh has both); without them, the
re-encoded images, the CIFAR records and the torch.save files are left out.
"""
import gzip
import io
import json
import os
import pathlib
import re
import shutil
import struct
import sys

try:
    from PIL import Image
except ImportError:
    Image = None

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write(out, name, data):
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(data)


def jpeg_seeds(data, out):
    for label, name in enumerate(CIFAR_CLASSES):
        src = data / "cifar10-jpeg" / "test" / name / "0000.jpg"
        if src.exists():
            write(out, f"cifar_{name}.jpg", src.read_bytes())
    if Image is None:
        return
    image = Image.open(data / "cifar10-jpeg" / "test" / "cat" / "0000.jpg").convert("RGB")
    for variant, kwargs, img in [
        ("gray", {}, image.convert("L")),
        ("progressive", {"progressive": True, "quality": 80}, image),
        ("subsampling444", {"subsampling": 0, "quality": 95}, image),
    ]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", **kwargs)
        write(out, f"cat_{variant}.jpg", buf.getvalue())


def png_seeds(data, out):
    root = data / "pennfudan" / "PennFudanPed"
    for mask in sorted((root / "PedMasks").glob("*.png"))[:4]:  # palette PNGs, a few KiB
        write(out, mask.name, mask.read_bytes())
    if Image is None:
        return
    photo = Image.open(root / "PNGImages" / "FudanPed00001.png").convert("RGB").crop((160, 182, 208, 230))
    variants = [
        ("rgb", photo, {}),
        ("gray", photo.convert("L"), {}),
        ("rgba", photo.convert("RGBA"), {}),
        ("gray16", photo.convert("I;16"), {}),
        ("palette", photo.convert("P"), {}),
        ("interlaced", photo, {"interlace": 1}),
    ]
    for variant, img, kwargs in variants:
        buf = io.BytesIO()
        img.save(buf, "PNG", **kwargs)
        write(out, f"pennfudan_crop_{variant}.png", buf.getvalue())


def idx_seeds(fashion, out):
    with gzip.open(fashion / "t10k-images-idx3-ubyte.gz") as f:
        header = f.read(16)
        images = f.read(3 * 28 * 28)
    with gzip.open(fashion / "t10k-labels-idx1-ubyte.gz") as f:
        label_header = f.read(8)
        labels = f.read(3)
    magic, _, rows, cols = struct.unpack(">IIII", header)
    write(out, "images_3.idx", struct.pack(">IIII", magic, 3, rows, cols) + images)
    write(out, "labels_3.idx", struct.pack(">II", struct.unpack(">II", label_header)[0], 3) + labels)
    write(out, "images_truncated.idx", header + images[:1000])  # declares 10000 images


def cifar_binary_seeds(data, out):
    if Image is None:
        return
    records = b""
    for label, name in enumerate(CIFAR_CLASSES[:2]):
        img = Image.open(data / "cifar10-jpeg" / "test" / name / "0000.jpg").convert("RGB")
        r, g, b = img.split()
        records += bytes([label]) + r.tobytes() + g.tobytes() + b.tobytes()
    write(out, "two_records.bin", records)


def annotation_seeds(data, out_pennfudan, out_coco, out_voc):
    annotations = sorted((data / "pennfudan" / "PennFudanPed" / "Annotation").glob("*.txt"))[:6]
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    for index, path in enumerate(annotations):
        text = path.read_text()
        write(out_pennfudan, path.name, text.encode())
        size = re.search(r"Image size \(X x Y x C\) : (\d+) x (\d+)", text)
        boxes = re.findall(r"\((\d+), (\d+)\) - \((\d+), (\d+)\)", text)
        width, height = int(size.group(1)), int(size.group(2))
        objects = "".join(
            f"<object><name>person</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>\n" for x1, y1, x2, y2 in boxes)
        xml = (f"<annotation><filename>{path.stem}.png</filename>\n<size><width>{width}</width>"
               f"<height>{height}</height><depth>3</depth></size>\n{objects}</annotation>\n")
        write(out_voc, path.stem + ".xml", xml.encode())
        coco["images"].append({"id": index + 1, "file_name": path.stem + ".png", "width": width, "height": height})
        for x1, y1, x2, y2 in boxes:
            x1, y1, x2, y2 = int(x1) - 1, int(y1) - 1, int(x2), int(y2)
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": index + 1, "category_id": 1,
                                        "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                        "iscrowd": 0})
    write(out_coco, "pennfudan.json", json.dumps(coco).encode())


def torch_file_seeds(out):
    """torch.save files as the importer meets them: a state dict (zip), an official-MoCo-style
    checkpoint, and the pre-1.6 legacy format. Needs torch (the venv of tools/setup.sh)."""
    try:
        import collections
        import torch
    except ImportError:
        return
    torch.manual_seed(0)
    state = collections.OrderedDict(
        [("conv1.weight", torch.randn(2, 1, 1, 1)), ("bn1.running_mean", torch.zeros(2)),
         ("bn1.num_batches_tracked", torch.tensor(3)), ("fc.weight", torch.randn(3, 2).half())])
    moco = {"epoch": 200, "arch": "resnet50", "state_dict": collections.OrderedDict(
        ("module.encoder_q." + k, v) for k, v in state.items()), "optimizer": {"state": {}, "lr": [0.03]}}
    for name, obj, zip_format in [("state_dict.pt", state, True), ("moco.pth.tar", moco, True),
                                  ("legacy.pt", state, False)]:
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=zip_format)
        write(out, name, buf.getvalue())


def config_seeds(repo, out):
    for path in sorted((repo / "configs").rglob("*.pbtxt")):
        write(out, "_".join(path.relative_to(repo / "configs").parts), path.read_bytes())


def main():
    data, fashion, out = map(pathlib.Path, sys.argv[1:4])
    repo = pathlib.Path(__file__).resolve().parent.parent
    if out.exists():
        shutil.rmtree(out)
    jpeg_seeds(data, out / "jpeg_fuzzer")
    png_seeds(data, out / "png_fuzzer")
    idx_seeds(fashion, out / "idx_fuzzer")
    cifar_binary_seeds(data, out / "cifar_binary_fuzzer")
    annotation_seeds(data, out / "pennfudan_fuzzer", out / "coco_json_fuzzer", out / "voc_xml_fuzzer")
    config_seeds(repo, out / "config_fuzzer")
    torch_file_seeds(out / "encoder_io_fuzzer")
    # The hand-made seeds kept in the repository (edge cases the real files lack).
    for folder in sorted((repo / "fuzz" / "corpus").glob("*")):
        for path in sorted(folder.iterdir()):
            write(out / folder.name, path.name, path.read_bytes())
    for folder in sorted(out.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seeds")


if __name__ == "__main__":
    main()
