/* tracking.data._jpeg: decode a region of a JPEG at a DCT-domain scale, with libjpeg-turbo.
 *
 * decode_region(data, out, scale_denom, x0, y0, x1, y1, verify) -> (rows, cols, left, top, scaled_h, scaled_w)
 *
 *   data        the encoded JPEG (any bytes-like object)
 *   out         a writable contiguous buffer of at least scaled_h * scaled_w * 3 bytes; the region is written
 *               there as rows x cols x 3 BGR uint8, rows packed (stride cols * 3)
 *   scale_denom 1, 2, 4 or 8: the image is decoded at 1/scale_denom of its size in the DCT domain (libjpeg's
 *               scale_num / scale_denom); its size is then scaled_w = ceil(width / s) x scaled_h = ceil(height / s)
 *   x0..y1      the wanted region [x0, x1) x [y0, y1) in scaled pixels; clipped to the scaled image. libjpeg
 *               writes exactly the clipped region: rows = y1 - y0, cols = x1 - x0, from left = x0, top = y0.
 *   verify      true: after the region, the rows below it are entropy-decoded too (no IDCT, no colour
 *               conversion: jpeg_skip_scanlines) and the end of the file is read, so that damaged data anywhere
 *               in the file is reported, as a full decode would; false: decoding stops after the region.
 *
 * Strict: a libjpeg warning (e.g. "Corrupt JPEG data: premature end of data segment") is an error, as
 * simplejpeg's strict mode makes it (tracking.data.frames). Errors raise ValueError with libjpeg's message;
 * a CMYK / YCCK JPEG raises NotImplementedError (the caller decodes those another way).
 *
 * The pixels are libjpeg's islow IDCT with fancy upsampling (its defaults, as simplejpeg and OpenCV use): the
 * region equals the same rows and columns of the whole image decoded at the same scale (tests/test_window_decode.py).
 * The GIL is released while decoding.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

enum { OK = 0, ERR_LIBJPEG = 1, ERR_WARNING = 2, ERR_CMYK = 3, ERR_SMALL = 4 };

/* Columns decoded beyond each side of a cropped region, then dropped (see run()). */
#define CROP_PAD 16

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf escape;
  char message[JMSG_LENGTH_MAX];
  int warned;
} StrictErrors;

static void on_error(j_common_ptr cinfo) {
  StrictErrors *err = (StrictErrors *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->escape, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
  StrictErrors *err = (StrictErrors *)cinfo->err;
  if (level < 0 && !err->warned) { /* a warning: corrupt data; remembered and turned into an error */
    (*cinfo->err->format_message)(cinfo, err->message);
    err->warned = 1;
  }
}

typedef struct {
  const unsigned char *data;
  size_t size;
  unsigned char *out;
  size_t out_size;
  int scale_denom;
  long x0, y0, x1, y1;
  int verify;
  /* results */
  long rows, cols, left, top, scaled_h, scaled_w;
  char message[JMSG_LENGTH_MAX];
} Job;

static long clip(long v, long lo, long hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Everything libjpeg does, without the GIL. Returns an error code (message in job->message). */
static int run(Job *job) {
  struct jpeg_decompress_struct cinfo;
  StrictErrors err;
  volatile int code = OK;
  volatile int created = 0;

  memset(&cinfo, 0, sizeof(cinfo));
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.warned = 0;
  err.message[0] = '\0';
  if (setjmp(err.escape)) {
    snprintf(job->message, sizeof(job->message), "%s", err.message);
    if (created) jpeg_destroy_decompress(&cinfo);
    return ERR_LIBJPEG;
  }
  jpeg_create_decompress(&cinfo);
  created = 1;
  jpeg_mem_src(&cinfo, job->data, (unsigned long)job->size);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    snprintf(job->message, sizeof(job->message), "CMYK / YCCK JPEG");
    jpeg_destroy_decompress(&cinfo);
    return ERR_CMYK;
  }
  cinfo.out_color_space = JCS_EXT_BGR;
  cinfo.scale_num = 1;
  cinfo.scale_denom = (unsigned int)job->scale_denom;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);

  long width = (long)cinfo.output_width, height = (long)cinfo.output_height;
  job->scaled_w = width;
  job->scaled_h = height;
  long x0 = clip(job->x0, 0, width), x1 = clip(job->x1, 0, width);
  long y0 = clip(job->y0, 0, height), y1 = clip(job->y1, 0, height);
  /* an axis whose wanted range lies wholly outside the image: its nearest row / column (what a crop with
     replicated borders reads there) */
  if (x1 <= x0) {
    x0 = job->x0 >= width ? width - 1 : 0;
    x1 = x0 + 1;
  }
  if (y1 <= y0) {
    y0 = job->y0 >= height ? height - 1 : 0;
    y1 = y0 + 1;
  }
  /* jpeg_crop_scanline's outermost columns are upsampled without their outer chroma neighbours (they differ
     from the whole image's by a few levels with fancy upsampling, and narrow crops more), so CROP_PAD more
     columns are decoded on each side inside the image and then dropped: the output is exactly [x0, x1). */
  JDIMENSION left = (JDIMENSION)(x0 > CROP_PAD ? x0 - CROP_PAD : 0);
  JDIMENSION cols = (JDIMENSION)((x1 + CROP_PAD < width ? x1 + CROP_PAD : width) - (long)left);
  int cropped = !cinfo.progressive_mode && cols < (JDIMENSION)width;
  if (cropped) jpeg_crop_scanline(&cinfo, &left, &cols);
  else { left = 0; cols = (JDIMENSION)width; }
  long trim_left = x0 - (long)left;
  long trim_right = (long)(left + cols) - x1;
  long rows = y1 - y0;
  size_t stride = (size_t)cols * 3;
  if ((size_t)rows * stride > job->out_size) {
    snprintf(job->message, sizeof(job->message), "output buffer of %zu bytes is smaller than the %ld x %u x 3 region",
             job->out_size, rows, (unsigned)cols);
    jpeg_destroy_decompress(&cinfo);
    return ERR_SMALL;
  }
  if (y0 > 0) {
    if (cinfo.progressive_mode) {
      /* skipping decodes the rows anyway: read them into the first output row (overwritten below) */
      while ((long)cinfo.output_scanline < y0) {
        JSAMPROW row = job->out;
        jpeg_read_scanlines(&cinfo, &row, 1);
      }
    } else {
      jpeg_skip_scanlines(&cinfo, (JDIMENSION)y0);
    }
  }
  while ((long)cinfo.output_scanline < y1) {
    JSAMPROW row = job->out + (size_t)((long)cinfo.output_scanline - y0) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  if (job->verify && cinfo.output_scanline < cinfo.output_height) {
    /* entropy-decode the rest: skip all but the last row (skipping to the very end would not read the data),
       read the last row into the first output row's place, then restore that row from a copy */
    JDIMENSION rest = cinfo.output_height - cinfo.output_scanline;
    if (rest > 1) jpeg_skip_scanlines(&cinfo, rest - 1);
    unsigned char *saved = (unsigned char *)malloc(stride);
    if (saved == NULL) {
      snprintf(job->message, sizeof(job->message), "out of memory");
      jpeg_destroy_decompress(&cinfo);
      return ERR_LIBJPEG;
    }
    memcpy(saved, job->out, stride);
    JSAMPROW row = job->out;
    jpeg_read_scanlines(&cinfo, &row, 1);
    memcpy(job->out, saved, stride);
    free(saved);
  }
  if (cinfo.output_scanline >= cinfo.output_height) jpeg_finish_decompress(&cinfo);
  else jpeg_abort_decompress(&cinfo);
  if (err.warned) {
    snprintf(job->message, sizeof(job->message), "%s", err.message);
    code = ERR_WARNING;
  }
  jpeg_destroy_decompress(&cinfo);
  long kept = (long)cols - trim_left - trim_right;
  if (trim_left || trim_right) { /* pack the kept columns of each row */
    size_t kept_stride = (size_t)kept * 3;
    for (long r = 0; r < rows; ++r)
      memmove(job->out + (size_t)r * kept_stride, job->out + (size_t)r * stride + (size_t)trim_left * 3, kept_stride);
  }
  job->rows = rows;
  job->cols = kept;
  job->left = (long)left + trim_left;
  job->top = y0;
  return code;
}

static PyObject *decode_region(PyObject *self, PyObject *args) {
  (void)self;
  Py_buffer data, out;
  Job job;
  memset(&job, 0, sizeof(job));
  int verify = 1;
  if (!PyArg_ParseTuple(args, "y*w*illll|p", &data, &out, &job.scale_denom, &job.x0, &job.y0, &job.x1, &job.y1,
                        &verify))
    return NULL;
  if (job.scale_denom != 1 && job.scale_denom != 2 && job.scale_denom != 4 && job.scale_denom != 8) {
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    PyErr_Format(PyExc_ValueError, "scale_denom must be 1, 2, 4 or 8, got %d", job.scale_denom);
    return NULL;
  }
  if (!PyBuffer_IsContiguous(&out, 'C')) {
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    PyErr_SetString(PyExc_ValueError, "out must be a C-contiguous writable buffer");
    return NULL;
  }
  job.data = (const unsigned char *)data.buf;
  job.size = (size_t)data.len;
  job.out = (unsigned char *)out.buf;
  job.out_size = (size_t)out.len;
  job.verify = verify;
  int code;
  if (job.size < 2) {
    snprintf(job.message, sizeof(job.message), "not a JPEG (%zu bytes)", job.size);
    code = ERR_LIBJPEG;
  } else {
    Py_BEGIN_ALLOW_THREADS
    code = run(&job);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&data);
  PyBuffer_Release(&out);
  switch (code) {
    case OK:
      return Py_BuildValue("(llllll)", job.rows, job.cols, job.left, job.top, job.scaled_h, job.scaled_w);
    case ERR_CMYK:
      PyErr_SetString(PyExc_NotImplementedError, job.message);
      return NULL;
    default:
      PyErr_SetString(PyExc_ValueError, job.message);
      return NULL;
  }
}

static PyMethodDef methods[] = {
    {"decode_region", decode_region, METH_VARARGS,
     "decode_region(data, out, scale_denom, x0, y0, x1, y1, verify=True) -> (rows, cols, left, top, scaled_h, "
     "scaled_w): a region of a JPEG decoded at 1/scale_denom into out (BGR uint8); see csrc/jpeg/region_decode.c"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jpeg", "Region + DCT-scaled JPEG decoding with libjpeg-turbo (see decode_region).", -1,
    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__jpeg(void) {
  PyObject *m = PyModule_Create(&module);
  if (m != NULL) PyModule_AddIntConstant(m, "LIBJPEG_VERSION", JPEG_LIB_VERSION);
  return m;
}
