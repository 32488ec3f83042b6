// Writes a YCCK JPEG (Adobe marker, transform 2), which Pillow cannot write, for the decode
// tests. Reads width x height x 4 CMYK samples from stdin, as stored in an Adobe JPEG
// (inverted: 255 is no ink), and writes the JPEG to stdout. See README.md.
//
//   cc -o /tmp/ycck_encode ycck_encode.c -ljpeg
//   /tmp/ycck_encode 61 43 < cmyk.raw > ycck.jpg
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s WIDTH HEIGHT < cmyk.raw > out.jpg\n", argv[0]);
    return 2;
  }
  const int width = atoi(argv[1]);
  const int height = atoi(argv[2]);
  const size_t row_bytes = (size_t)width * 4;
  unsigned char* pixels = malloc(row_bytes * height);
  if (fread(pixels, 1, row_bytes * height, stdin) != row_bytes * height) {
    fprintf(stderr, "expected %zu bytes on stdin\n", row_bytes * height);
    return 1;
  }
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr error;
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, stdout);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, JCS_YCCK);  // also writes the Adobe marker, transform 2
  jpeg_set_quality(&cinfo, 90, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = pixels + cinfo.next_scanline * row_bytes;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  free(pixels);
  return 0;
}
