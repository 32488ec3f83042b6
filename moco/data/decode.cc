#include "moco/data/decode.h"

#include <cerrno>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>
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
// reach training, so warnings end decoding too. Trace messages (msg_level >= 0) are ignored.
void JpegEmitMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) JpegErrorExit(cinfo);
}

// Everything libjpeg touches lives here, outside the function that calls setjmp: locals of
// that function changed after setjmp would have indeterminate values after the longjmp.
struct JpegDecoder {
  jpeg_decompress_struct cinfo;
  JpegErrorManager error;
};

// Decodes into `image`; false (with decoder->error.message set) on failure. No object with a
// destructor may be alive across the libjpeg calls, because longjmp skips destructors.
bool RunJpegDecode(JpegDecoder* decoder, absl::string_view bytes, Image* image) {
  jpeg_decompress_struct* cinfo = &decoder->cinfo;
  cinfo->err = jpeg_std_error(&decoder->error.base);
  decoder->error.base.error_exit = JpegErrorExit;
  decoder->error.base.emit_message = JpegEmitMessage;
  if (setjmp(decoder->error.jump)) {
    jpeg_destroy_decompress(cinfo);  // a no-op if creation itself failed (cinfo zeroed)
    return false;
  }
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    // libjpeg cannot convert these to RGB.
    std::snprintf(decoder->error.message, sizeof(decoder->error.message),
                  "CMYK JPEGs are not supported");
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  if (uint64_t{cinfo->image_width} * cinfo->image_height * 3 > kMaxImageBytes) {
    std::snprintf(decoder->error.message, sizeof(decoder->error.message),
                  "%u x %u pixels is too large to decode", cinfo->image_width,
                  cinfo->image_height);
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  cinfo->out_color_space = JCS_RGB;  // grayscale and YCbCr both come out as RGB
  jpeg_start_decompress(cinfo);
  image->height = static_cast<int>(cinfo->output_height);
  image->width = static_cast<int>(cinfo->output_width);
  image->channels = cinfo->output_components;
  image->pixels.resize(image->num_bytes());
  const size_t row_bytes = static_cast<size_t>(image->width) * image->channels;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = image->pixels.data() + cinfo->output_scanline * row_bytes;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
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

// Decodes into `image`; false (with state->message set) on failure. Like RunJpegDecode, it
// keeps no object with a destructor alive across libpng calls.
bool RunPngDecode(png_structp png, png_infop info, Image* image) {
  if (setjmp(png_jmpbuf(png))) return false;
  // By default libpng only warns about, and skips, an ancillary chunk with a bad CRC; any
  // CRC mismatch means the file is damaged, so make both kinds fatal.
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);
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

absl::Status Corrupt(absl::string_view source, absl::string_view format,
                     absl::string_view message) {
  return absl::DataLossError(absl::StrCat(source, ": corrupt ", format, ": ", message));
}

constexpr unsigned char kJpegMagic[] = {0xFF, 0xD8, 0xFF};
constexpr unsigned char kPngMagic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool HasPrefix(absl::string_view bytes, const unsigned char* magic, size_t size) {
  return bytes.size() >= size && std::memcmp(bytes.data(), magic, size) == 0;
}

}  // namespace

absl::StatusOr<Image> DecodeJpeg(absl::string_view bytes, absl::string_view source) {
  if (bytes.empty()) return Corrupt(source, "JPEG", "file is empty");
  JpegDecoder decoder = {};  // zeroed, so a failed jpeg_create_decompress frees nothing
  Image image;
  if (!RunJpegDecode(&decoder, bytes, &image)) {
    return Corrupt(source, "JPEG", decoder.error.message);
  }
  return image;
}

absl::StatusOr<Image> DecodePng(absl::string_view bytes, absl::string_view source) {
  PngState state;
  state.bytes = bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, PngError, PngWarning);
  png_infop info = png == nullptr ? nullptr : png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return absl::InternalError(absl::StrCat(source, ": could not set up libpng"));
  }
  png_set_read_fn(png, &state, PngRead);
  Image image;
  const bool ok = RunPngDecode(png, info, &image);
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) return Corrupt(source, "PNG", state.message);
  return image;
}

absl::StatusOr<Image> DecodeImage(absl::string_view bytes, absl::string_view source) {
  if (HasPrefix(bytes, kJpegMagic, sizeof(kJpegMagic))) return DecodeJpeg(bytes, source);
  if (HasPrefix(bytes, kPngMagic, sizeof(kPngMagic))) return DecodePng(bytes, source);
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": file is empty"));
  std::string head;
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    absl::StrAppendFormat(&head, " %02x", static_cast<unsigned char>(bytes[i]));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": not a JPEG or PNG file (starts with", head, ")"));
}

absl::StatusOr<Image> ReadImage(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeImage(*bytes, path);
}

}  // namespace moco
