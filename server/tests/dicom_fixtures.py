#!/usr/bin/python3
"""DICOM fixtures and checks for server/tests/declutter_dicom.rs, through pydicom and Pillow
(Debian: python3-pydicom, python3-pil), an implementation independent of Sluice's own.

  dicom_fixtures.py make MODE OUT.dcm GREY_PNG_DIR [COLOUR_PNG_DIR]
      Writes a multi-frame ultrasound DICOM of the grey PNG frames (sorted by name). Colour modes
      first make colour frames (the grey echo with a tint and a green trace) and save them as
      RGB PNGs in COLOUR_PNG_DIR, the same pictures the DICOM holds.
      Good modes: grey (MONOCHROME2, explicit VR LE), grey-implicit (implicit VR LE), mono1
      (MONOCHROME1, inverted), rgb (RGB, explicit VR LE), ybr-jpeg (YBR_FULL_422, JPEG baseline,
      two fragments per frame, no offset table), grey-jpeg (MONOCHROME2, JPEG baseline, three
      fragments per frame and an offset table).
      Bad modes: jpeg-lossless, j2k, rle, deflate, bits16, no-pixels, count-mismatch.
  dicom_fixtures.py read IN.dcm OUT_PNG_DIR
      Reads a DICOM with pydicom, writes its frames as grey PNGs (000.png, …) and prints its
      attributes as JSON.
"""

import io
import json
import os
import sys

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
ROOT = "1.2.826.0.1.3680043.8.498.77"
BAD_SYNTAX = {
    "jpeg-lossless": "1.2.840.10008.1.2.4.70",
    "j2k": "1.2.840.10008.1.2.4.90",
    "rle": "1.2.840.10008.1.2.5",
    "deflate": "1.2.840.10008.1.2.1.99",
}


def grey_frames(folder):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    return [np.asarray(Image.open(os.path.join(folder, n)).convert("L")) for n in names]


def colour(frames, out_dir):
    """Grey echo frames as colour: a warm tint and a green trace across the middle."""
    os.makedirs(out_dir, exist_ok=True)
    out = []
    for t, g in enumerate(frames):
        g = g.astype(np.int32)
        rgb = np.stack([np.minimum(g + 25, 255), g, np.maximum(g - 20, 0)], axis=-1)
        h, w = g.shape
        rows = (h // 2 + (np.sin(np.arange(w) / 4.0 + t) * h / 8)).astype(int)
        rgb[rows, np.arange(w)] = [30, 220, 60]
        rgb = rgb.astype(np.uint8)
        Image.fromarray(rgb, "RGB").save(os.path.join(out_dir, f"{t:03}.png"))
        out.append(rgb)
    return out


def base(path, syntax, frames, rows, cols):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME
    meta.MediaStorageSOPInstanceUID = ROOT + ".3"
    meta.TransferSyntaxUID = syntax
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = syntax == IMPLICIT
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = US_MULTIFRAME
    ds.SOPInstanceUID = ROOT + ".3"
    ds.StudyDate = "20260102"
    ds.StudyTime = "101500"
    ds.Modality = "US"
    ds.Manufacturer = "Sluice test"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SLUICE-42"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = ROOT + ".1"
    ds.SeriesInstanceUID = ROOT + ".2"
    ds.StudyID = "7"
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.FrameTime = "40"
    ds.CineRate = 25
    ds.RecommendedDisplayFrameRate = 25
    ds.FrameIncrementPointer = (0x0018, 0x1063)
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.PhysicalUnitsXDirection = 3
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = 0.03
    region.PhysicalDeltaY = 0.03
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.NumberOfFrames = frames
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def jpeg(array, mode, **kw):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="JPEG", **kw)
    return buf.getvalue()


def encapsulated(ds, fragments, per_frame=1, bot=False):
    ds.PixelData = encapsulate(fragments, fragments_per_frame=per_frame, has_bot=bot)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def make(mode, out, grey_dir, colour_dir=None):
    frames = grey_frames(grey_dir)
    rows, cols = frames[0].shape
    n = len(frames)
    syntax = {"grey-implicit": IMPLICIT, "ybr-jpeg": JPEG_BASELINE, "grey-jpeg": JPEG_BASELINE}.get(mode, EXPLICIT)
    syntax = BAD_SYNTAX.get(mode, syntax)
    ds = base(out, syntax, n, rows, cols)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if mode in ("grey", "grey-implicit", "no-pixels"):
        if mode != "no-pixels":
            ds.PixelData = b"".join(f.tobytes() for f in frames)
    elif mode == "count-mismatch":
        ds.NumberOfFrames = n + 2
        ds.PixelData = b"".join(f.tobytes() for f in frames)
    elif mode == "mono1":
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.PixelData = b"".join((255 - f).tobytes() for f in frames)
    elif mode == "rgb":
        rgb = colour(frames, colour_dir)
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.PixelData = b"".join(f.tobytes() for f in rgb)
    elif mode == "ybr-jpeg":
        rgb = colour(frames, colour_dir)
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0
        ds.LossyImageCompression = "01"
        # 4:2:2 JPEG (Pillow: subsampling 1), split in two fragments each.
        encapsulated(ds, [jpeg(f, "RGB", quality=95, subsampling=1) for f in rgb], per_frame=2)
    elif mode == "grey-jpeg":
        # Three fragments per frame, found through the basic offset table.
        encapsulated(ds, [jpeg(f, "L", quality=95) for f in frames], per_frame=3, bot=True)
    elif mode == "bits16":
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelData = b"".join((f.astype("<u2") * 16).tobytes() for f in frames)
    elif mode in ("jpeg-lossless", "j2k", "rle"):
        encapsulated(ds, [bytes([0xFF, 0xD8, 0, 0]) for _ in frames])
    elif mode == "deflate":
        ds.PixelData = b"".join(f.tobytes() for f in frames)
    else:
        sys.exit(f"unknown mode {mode}")
    ds.save_as(out, write_like_original=False)


def read(path, png_dir):
    ds = pydicom.dcmread(path)
    os.makedirs(png_dir, exist_ok=True)
    pixels = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1)) == 1:
        pixels = pixels[None]
    for t, frame in enumerate(pixels):
        Image.fromarray(frame.astype(np.uint8), "L").save(os.path.join(png_dir, f"{t:03}.png"))
    src = ds.get("SourceImageSequence")
    regions = ds.get("SequenceOfUltrasoundRegions")
    info = {
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "media_sop_instance": str(ds.file_meta.MediaStorageSOPInstanceUID),
        "sop_class": str(ds.SOPClassUID),
        "sop_instance": str(ds.SOPInstanceUID),
        "study_uid": str(ds.StudyInstanceUID),
        "series_uid": str(ds.SeriesInstanceUID),
        "patient_name": str(ds.PatientName),
        "patient_id": str(ds.PatientID),
        "study_date": str(ds.get("StudyDate", "")),
        "frames": int(ds.NumberOfFrames),
        "decoded_frames": len(pixels),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "samples": int(ds.SamplesPerPixel),
        "photometric": str(ds.PhotometricInterpretation),
        "bits_allocated": int(ds.BitsAllocated),
        "image_type": list(ds.ImageType),
        "derivation": str(ds.get("DerivationDescription", "")),
        "source_sop_instance": str(src[0].ReferencedSOPInstanceUID) if src else None,
        "frame_time": float(ds.FrameTime) if "FrameTime" in ds else None,
        "cine_rate": int(ds.CineRate) if "CineRate" in ds else None,
        "frame_increment_pointer": str(ds.get("FrameIncrementPointer", "")),
        "region_delta_x": float(regions[0].PhysicalDeltaX) if regions else None,
        "lossy": str(ds.get("LossyImageCompression", "")),
    }
    print(json.dumps(info))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(*sys.argv[2:])
    elif sys.argv[1] == "read":
        read(*sys.argv[2:])
    else:
        sys.exit(__doc__)
