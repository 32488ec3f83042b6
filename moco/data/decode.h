// Reading files and decoding JPEG (libjpeg-turbo) and PNG (libpng) images into RGB Images.
//
//   MOCO_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//   MOCO_ASSIGN_OR_RETURN(Image image, DecodeImage(bytes, path));
//   // image.channels == 3; image.pixels is height x width x 3, RGB.
//
//   // A large photo needed only at a quarter of its size: a JPEG is decoded at that size
//   // directly, a PNG in full.
//   MOCO_ASSIGN_OR_RETURN(ImageSize size, ReadImageSize(bytes, path));
//   MOCO_ASSIGN_OR_RETURN(Image small, DecodeImageScaled(bytes, path, /*scale_denom=*/4));
//
// Decoding is strict: anything the libraries would only warn about in a JPEG (a truncated
// file, corrupt entropy data) is an error, because libjpeg would otherwise fill the rest of
// the image with gray and a training run would silently learn from it. Every error message
// starts with `source` (the file name) and says what is wrong.
#ifndef MOCO_DATA_DECODE_H_
#define MOCO_DATA_DECODE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "moco/common/files.h"  // ReadFile
#include "moco/data/image.h"

namespace moco {

// An image's size in pixels.
struct ImageSize {
  int height = 0;
  int width = 0;
};

// Decodes a JPEG to 8-bit RGB as torchvision's PIL loader (Image.open(f).convert("RGB")) does:
// libjpeg's defaults (accurate integer DCT, fancy upsampling); grayscale expanded; CMYK and
// YCCK read as Adobe-inverted CMYK and converted without a colour profile, as PIL does (see
// decode.cc). DataLoss on corrupt or truncated data.
absl::StatusOr<Image> DecodeJpeg(absl::string_view bytes, absl::string_view source);

// Decodes a PNG to 8-bit RGB: palette and grayscale are expanded, 16-bit samples are
// reduced to 8 bits, alpha is dropped. A CRC mismatch in any chunk is an error (DataLoss).
absl::StatusOr<Image> DecodePng(absl::string_view bytes, absl::string_view source);

// DecodeJpeg or DecodePng, chosen by the file's magic bytes (not its name).
// InvalidArgument if the bytes are neither.
absl::StatusOr<Image> DecodeImage(absl::string_view bytes, absl::string_view source);

// ReadFile then DecodeImage; errors name `path`.
absl::StatusOr<Image> ReadImage(const std::string& path);

// The size DecodeImage would return, from the JPEG header (up to the first scan) or the PNG
// chunks before the image data, without decoding pixels. Errors as DecodeImage's for a
// damaged header; damage after it goes unnoticed until the image is decoded.
absl::StatusOr<ImageSize> ReadImageSize(absl::string_view bytes, absl::string_view source);

// DecodeImage, except that a JPEG is decoded at 1/scale_denom of its size (scale_denom 1, 2,
// 4 or 8; anything else is InvalidArgument) by libjpeg's DCT-domain scaling: the image is
// ceil(height / scale_denom) x ceil(width / scale_denom). That saves the full-size inverse DCT,
// upsampling and colour conversion but not the entropy decoding, so the gain is modest (a
// 2236 x 2144 photo: 1.4x faster at 1/2, 1.7x at 1/8, on the 2-core machine here). The pixels
// are close to, not equal to, a box filter of the full decode (decode_test.cc measures how
// close). A PNG is decoded at full size whatever scale_denom is.
absl::StatusOr<Image> DecodeImageScaled(absl::string_view bytes, absl::string_view source,
                                        int scale_denom);

}  // namespace moco

#endif  // MOCO_DATA_DECODE_H_
