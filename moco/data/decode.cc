#include "moco/data/decode.h"

#include <cerrno>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>
#include <jerror.h>  // after jpeglib.h: the warning codes
#include <png.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace moco {
namespace {

// Larger than any photograph a dataset here holds (a 16k x 16k RGB image is 768 MiB); a
// damaged header declaring more fails cleanly instead of exhausting memory.
constexpr uint64_t kMaxImageBytes = uint64_t{1} << 30;

// --- JPEG ---------------------------------------------------------------------------------

// libjpeg reports errors through a callback that must not return; it jumps back to
// RunJpegDecode's setjmp instead. `base` comes first so that libjpeg's `cinfo->err` pointer
// is also a pointer to the whole struct.
struct JpegErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* manager = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, manager->message);
  std::longjmp(manager->jump, 1);
}

// libjpeg treats damaged data (a truncated file, corrupt entropy-coded data) as a warning
// (msg_level -1), fills the missing part with gray and carries on. Such an image must not
// reach training, so warnings end decoding too. One warning is let through: bytes that
// libjpeg skips after the last row was decoded, before the end marker ("N extraneous bytes
// before marker 0xd9"), which PIL, and so torchvision's loader, accepts (a few ImageNet files
// have them). The same warning earlier, while rows are still to come, can mean damaged image
// data and stays an error. Trace messages (msg_level >= 0) are ignored.
void JpegEmitMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  const bool after_last_row = cinfo->is_decompressor && d->output_height > 0 &&
                              d->output_scanline >= d->output_height;
  if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA && after_last_row) return;
  JpegErrorExit(cinfo);
}

// Everything libjpeg touches lives here, outside the function that calls setjmp: locals of
// that function changed after setjmp would have indeterminate values after the longjmp.
struct JpegDecoder {
  jpeg_decompress_struct cinfo;
  JpegErrorManager error;
};

// Routes libjpeg's errors and warnings to `decoder`; call it before setjmp(error.jump).
void SetJpegErrorHandling(JpegDecoder* decoder) {
  decoder->cinfo.err = jpeg_std_error(&decoder->error.base);
  decoder->error.base.error_exit = JpegErrorExit;
  decoder->error.base.emit_message = JpegEmitMessage;
}

// Creates the decompressor and reads the header of `bytes` (up to the first scan).
void ReadJpegHeader(JpegDecoder* decoder, absl::string_view bytes) {
  jpeg_create_decompress(&decoder->cinfo);
  jpeg_mem_src(&decoder->cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&decoder->cinfo, TRUE);
}

// PIL's CMYK to RGB for one row. PIL opens every 4-channel JPEG as "CMYK;I": libjpeg's
// samples inverted (Adobe's convention, in which 255 is no ink), whether or not the file has
// an Adobe marker. It then converts with no colour profile (Pillow's cmyk2rgb):
// R = (255 - K) - MULDIV255(C, 255 - K), likewise G from M and B from Y, where
// MULDIV255(a, b) rounds a * b / 255. decode_test.cc checks this against PIL's output.
void InvertedCmykRowToRgb(const JSAMPLE* cmyk, int width, uint8_t* rgb) {
  for (int x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const int no_black = cmyk[3];  // 255 - K
    for (int c = 0; c < 3; ++c) {
      const int ink = 255 - cmyk[c];
      const int product = ink * no_black + 128;
      rgb[c] = static_cast<uint8_t>(no_black - (((product >> 8) + product) >> 8));
    }
  }
}

// Decodes into `image` at 1/scale_denom size; false (with decoder->error.message set) on
// failure. No object with a destructor may be alive across the libjpeg calls, because
// longjmp skips destructors.
bool RunJpegDecode(JpegDecoder* decoder, absl::string_view bytes, int scale_denom,
                   Image* image) {
  jpeg_decompress_struct* cinfo = &decoder->cinfo;
  SetJpegErrorHandling(decoder);
  if (setjmp(decoder->error.jump)) {
    jpeg_destroy_decompress(cinfo);  // a no-op if creation itself failed (cinfo zeroed)
    return false;
  }
  ReadJpegHeader(decoder, bytes);
  if (uint64_t{cinfo->image_width} * cinfo->image_height * 3 > kMaxImageBytes) {
    std::snprintf(decoder->error.message, sizeof(decoder->error.message),
                  "%u x %u pixels is too large to decode", cinfo->image_width,
                  cinfo->image_height);
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  // libjpeg converts grayscale and YCbCr to RGB itself, but CMYK and YCCK only to CMYK.
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned int>(scale_denom);
  jpeg_start_decompress(cinfo);
  image->height = static_cast<int>(cinfo->output_height);
  image->width = static_cast<int>(cinfo->output_width);
  image->channels = 3;
  image->pixels.resize(image->num_bytes());
  const size_t row_bytes = static_cast<size_t>(image->width) * 3;
  // One row of CMYK samples, in libjpeg's memory pool (freed by jpeg_finish_decompress).
  JSAMPARRAY cmyk_row =
      cmyk ? (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo), JPOOL_IMAGE,
                                         cinfo->output_width * 4, 1)
           : nullptr;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = image->pixels.data() + cinfo->output_scanline * row_bytes;
    if (cmyk) {
      jpeg_read_scanlines(cinfo, cmyk_row, 1);
      InvertedCmykRowToRgb(cmyk_row[0], image->width, row);
    } else {
      jpeg_read_scanlines(cinfo, &row, 1);
    }
  }
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  return true;
}

// Reads the header's image size into `size`; false (with decoder->error.message set) on
// failure. Like RunJpegDecode, it keeps no object with a destructor alive across libjpeg calls.
bool RunJpegReadSize(JpegDecoder* decoder, absl::string_view bytes, ImageSize* size) {
  SetJpegErrorHandling(decoder);
  if (setjmp(decoder->error.jump)) {
    jpeg_destroy_decompress(&decoder->cinfo);
    return false;
  }
  ReadJpegHeader(decoder, bytes);
  size->height = static_cast<int>(decoder->cinfo.image_height);
  size->width = static_cast<int>(decoder->cinfo.image_width);
  jpeg_destroy_decompress(&decoder->cinfo);
  return true;
}

// --- PNG ----------------------------------------------------------------------------------

// The read cursor and the last error, shared with libpng's callbacks.
struct PngState {
  absl::string_view bytes;
  size_t offset = 0;
  char message[256] = {};
};

void PngRead(png_structp png, png_bytep out, png_size_t length) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (length > state->bytes.size() - state->offset) png_error(png, "file is truncated");
  std::memcpy(out, state->bytes.data() + state->offset, length);
  state->offset += length;
}

void PngError(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  png_longjmp(png, 1);
}

// Warnings are about ancillary metadata (colour profiles, text chunks) that decoding does
// not use; damage that matters (bad CRCs, missing image data) is raised as an error.
void PngWarning(png_structp, png_const_charp) {}

// Reads the chunks before the image data. By default libpng only warns about, and skips, an
// ancillary chunk with a bad CRC; any CRC mismatch means the file is damaged, so both kinds
// are made fatal.
void ReadPngInfo(png_structp png, png_infop info) {
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);
}

// Decodes into `image`; false (with state->message set) on failure. Like RunJpegDecode, it
// keeps no object with a destructor alive across libpng calls.
bool RunPngDecode(png_structp png, png_infop info, Image* image) {
  if (setjmp(png_jmpbuf(png))) return false;
  ReadPngInfo(png, info);
  const png_byte color_type = png_get_color_type(png, info);
  png_set_expand(png);  // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);  // keeps the high byte, as PIL
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8) {
    png_error(png, "could not convert to 8-bit RGB");
  }
  if (uint64_t{png_get_image_width(png, info)} * png_get_image_height(png, info) * 3 >
      kMaxImageBytes) {
    png_error(png, "image is too large to decode");
  }
  image->height = static_cast<int>(png_get_image_height(png, info));
  image->width = static_cast<int>(png_get_image_width(png, info));
  image->channels = 3;
  image->pixels.resize(image->num_bytes());
  const size_t row_bytes = png_get_rowbytes(png, info);
  // An interlaced image is read once per pass into the same rows; libpng merges the passes.
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < image->height; ++y) {
      png_read_row(png, image->pixels.data() + y * row_bytes, nullptr);
    }
  }
  // Reads the chunks after the image data, which also checks the last IDAT chunk's CRC.
  png_read_end(png, nullptr);
  return true;
}

// Reads IHDR's image size into `size`; false (with state->message set) on failure.
bool RunPngReadSize(png_structp png, png_infop info, ImageSize* size) {
  if (setjmp(png_jmpbuf(png))) return false;
  ReadPngInfo(png, info);
  size->height = static_cast<int>(png_get_image_height(png, info));
  size->width = static_cast<int>(png_get_image_width(png, info));
  return true;
}

absl::Status Corrupt(absl::string_view source, absl::string_view format,
                     absl::string_view message) {
  return absl::DataLossError(absl::StrCat(source, ": corrupt ", format, ": ", message));
}

// Runs `run(png, info)` (RunPngDecode or RunPngReadSize) on a libpng reader of `bytes`.
template <typename Run>
absl::Status RunPng(absl::string_view bytes, absl::string_view source, Run run) {
  PngState state;
  state.bytes = bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, PngError, PngWarning);
  png_infop info = png == nullptr ? nullptr : png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return absl::InternalError(absl::StrCat(source, ": could not set up libpng"));
  }
  png_set_read_fn(png, &state, PngRead);
  const bool ok = run(png, info);
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) return Corrupt(source, "PNG", state.message);
  return absl::OkStatus();
}

constexpr unsigned char kJpegMagic[] = {0xFF, 0xD8, 0xFF};
constexpr unsigned char kPngMagic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool HasPrefix(absl::string_view bytes, const unsigned char* magic, size_t size) {
  return bytes.size() >= size && std::memcmp(bytes.data(), magic, size) == 0;
}

bool IsJpeg(absl::string_view bytes) { return HasPrefix(bytes, kJpegMagic, sizeof(kJpegMagic)); }
bool IsPng(absl::string_view bytes) { return HasPrefix(bytes, kPngMagic, sizeof(kPngMagic)); }

// The error for bytes that are neither JPEG nor PNG.
absl::Status NotAnImage(absl::string_view bytes, absl::string_view source) {
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": file is empty"));
  std::string head;
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    absl::StrAppendFormat(&head, " %02x", static_cast<unsigned char>(bytes[i]));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": not a JPEG or PNG file (starts with", head, ")"));
}

absl::StatusOr<Image> DecodeJpegScaled(absl::string_view bytes, absl::string_view source,
                                       int scale_denom) {
  if (bytes.empty()) return Corrupt(source, "JPEG", "file is empty");
  JpegDecoder decoder = {};  // zeroed, so a failed jpeg_create_decompress frees nothing
  Image image;
  if (!RunJpegDecode(&decoder, bytes, scale_denom, &image)) {
    return Corrupt(source, "JPEG", decoder.error.message);
  }
  return image;
}

}  // namespace

absl::StatusOr<Image> DecodeJpeg(absl::string_view bytes, absl::string_view source) {
  return DecodeJpegScaled(bytes, source, /*scale_denom=*/1);
}

absl::StatusOr<Image> DecodePng(absl::string_view bytes, absl::string_view source) {
  Image image;
  absl::Status status = RunPng(bytes, source, [&image](png_structp png, png_infop info) {
    return RunPngDecode(png, info, &image);
  });
  if (!status.ok()) return status;
  return image;
}

absl::StatusOr<Image> DecodeImage(absl::string_view bytes, absl::string_view source) {
  return DecodeImageScaled(bytes, source, /*scale_denom=*/1);
}

absl::StatusOr<Image> ReadImage(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeImage(*bytes, path);
}

absl::StatusOr<ImageSize> ReadImageSize(absl::string_view bytes, absl::string_view source) {
  ImageSize size;
  if (IsJpeg(bytes)) {
    JpegDecoder decoder = {};
    if (!RunJpegReadSize(&decoder, bytes, &size)) {
      return Corrupt(source, "JPEG", decoder.error.message);
    }
    return size;
  }
  if (IsPng(bytes)) {
    absl::Status status = RunPng(bytes, source, [&size](png_structp png, png_infop info) {
      return RunPngReadSize(png, info, &size);
    });
    if (!status.ok()) return status;
    return size;
  }
  return NotAnImage(bytes, source);
}

absl::StatusOr<Image> DecodeImageScaled(absl::string_view bytes, absl::string_view source,
                                        int scale_denom) {
  if (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 && scale_denom != 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": scale_denom must be 1, 2, 4 or 8, not ", scale_denom));
  }
  if (IsJpeg(bytes)) return DecodeJpegScaled(bytes, source, scale_denom);
  if (IsPng(bytes)) return DecodePng(bytes, source);
  return NotAnImage(bytes, source);
}

}  // namespace moco
