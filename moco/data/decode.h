// Reading files and decoding JPEG (libjpeg-turbo) and PNG (libpng) images into RGB Images.
//
//   MOCO_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//   MOCO_ASSIGN_OR_RETURN(Image image, DecodeImage(bytes, path));
//   // image.channels == 3; image.pixels is height x width x 3, RGB.
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

// Decodes a JPEG to 8-bit RGB (grayscale JPEGs are expanded; CMYK is rejected). Uses
// libjpeg's defaults (accurate integer DCT, fancy upsampling), as PIL does, so pixels match
// torchvision's PIL loader. DataLoss on corrupt or truncated data.
absl::StatusOr<Image> DecodeJpeg(absl::string_view bytes, absl::string_view source);

// Decodes a PNG to 8-bit RGB: palette and grayscale are expanded, 16-bit samples are
// reduced to 8 bits, alpha is dropped. A CRC mismatch in any chunk is an error (DataLoss).
absl::StatusOr<Image> DecodePng(absl::string_view bytes, absl::string_view source);

// DecodeJpeg or DecodePng, chosen by the file's magic bytes (not its name).
// InvalidArgument if the bytes are neither.
absl::StatusOr<Image> DecodeImage(absl::string_view bytes, absl::string_view source);

// ReadFile then DecodeImage; errors name `path`.
absl::StatusOr<Image> ReadImage(const std::string& path);

}  // namespace moco

#endif  // MOCO_DATA_DECODE_H_
