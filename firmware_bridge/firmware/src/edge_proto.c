/* edge_proto: see edge_proto.h. C99, no malloc, no floating-point maths (floats are only copied). */
#include "edge_proto.h"

#include <string.h>

uint32_t edge_crc32c(uint32_t crc, const void *data, size_t n)
{
    /* Bitwise on purpose: no 1 KiB table in flash, and 8 shifts per byte is far below what a
     * Cortex-M0+ does between two samples at the link's ~20 kB/s. */
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (n--) {
        int k;
        crc ^= *p++;
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

size_t edge_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t code_at = 0, o = 1, i;
    uint8_t code = 1;
    if (cap < n + n / 254 + 1) /* worst case: one code byte per 254 data bytes, plus the first */
        return 0;
    for (i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            /* a full run of 254: close the group, and open a new one only if more input follows
             * (the canonical encoding; Python's cobs package does the same) */
            if (++code == 0xFF && i + 1 < n) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

void edge_writer_init(edge_writer_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

static uint8_t *reserve(edge_writer_t *w, size_t n)
{
    uint8_t *p;
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = 1;
        return NULL;
    }
    p = w->buf + w->len;
    w->len += n;
    return p;
}

void edge_put_u8(edge_writer_t *w, uint8_t v)
{
    uint8_t *p = reserve(w, 1);
    if (p)
        p[0] = v;
}

void edge_put_u16(edge_writer_t *w, uint16_t v)
{
    uint8_t *p = reserve(w, 2);
    if (p) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
    }
}

void edge_put_u32(edge_writer_t *w, uint32_t v)
{
    uint8_t *p = reserve(w, 4);
    int k;
    if (p)
        for (k = 0; k < 4; k++)
            p[k] = (uint8_t)(v >> (8 * k));
}

void edge_put_u64(edge_writer_t *w, uint64_t v)
{
    uint8_t *p = reserve(w, 8);
    int k;
    if (p)
        for (k = 0; k < 8; k++)
            p[k] = (uint8_t)(v >> (8 * k));
}

void edge_put_f32(edge_writer_t *w, float v)
{
    uint32_t bits; /* IEEE 754 binary32, as on every MCU with a C99 float */
    memcpy(&bits, &v, sizeof bits);
    edge_put_u32(w, bits);
}

void edge_put_str8(edge_writer_t *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    uint8_t *p;
    if (n > 255) {
        w->overflow = 1;
        return;
    }
    edge_put_u8(w, (uint8_t)n);
    p = reserve(w, n);
    if (p && n)
        memcpy(p, s, n);
}

void edge_begin(edge_writer_t *w, uint8_t *buf, size_t cap, uint8_t type, const edge_header_t *h)
{
    edge_writer_init(w, buf, cap);
    edge_put_u8(w, EDGE_VERSION_MAJOR);
    edge_put_u8(w, EDGE_VERSION_MINOR);
    edge_put_u8(w, type);
    edge_put_u8(w, 0); /* header flags: reserved, 0 */
    edge_put_u16(w, h->board_id);
    edge_put_u32(w, h->seq);
    edge_put_u64(w, h->timestamp_us);
}

void edge_hello(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h, uint64_t board_uid,
                const char *board_name, const char *firmware, const edge_channel_desc_t *ch, uint8_t n_channels)
{
    uint8_t i;
    edge_begin(w, buf, cap, EDGE_MSG_HELLO, h);
    edge_put_u64(w, board_uid);
    edge_put_str8(w, board_name);
    edge_put_str8(w, firmware);
    edge_put_u8(w, n_channels);
    for (i = 0; i < n_channels; i++) {
        edge_put_u8(w, ch[i].channel_id);
        edge_put_u8(w, ch[i].modality);
        edge_put_u8(w, ch[i].fmt);
        edge_put_u8(w, 0);
        edge_put_u32(w, ch[i].rate_mhz);
        edge_put_f32(w, ch[i].scale);
        edge_put_str8(w, ch[i].units);
        edge_put_str8(w, ch[i].sensor);
    }
}

void edge_data_begin(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h)
{
    edge_begin(w, buf, cap, EDGE_MSG_DATA, h);
    edge_put_u8(w, 0); /* block count, raised by each edge_data_block_* */
}

static int block_header(edge_writer_t *w, uint8_t channel_id, uint8_t fmt, uint64_t first, uint16_t n)
{
    if (w->overflow || w->len <= EDGE_HEADER_SIZE || w->buf[EDGE_HEADER_SIZE] == 255) {
        w->overflow = 1;
        return 0;
    }
    edge_put_u8(w, channel_id);
    edge_put_u8(w, fmt);
    edge_put_u16(w, n);
    edge_put_u64(w, first);
    if (w->overflow)
        return 0;
    w->buf[EDGE_HEADER_SIZE]++;
    return 1;
}

void edge_data_block_i16(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const int16_t *s, uint16_t n)
{
    uint16_t i;
    if (block_header(w, channel_id, EDGE_FMT_INT16, first_index, n))
        for (i = 0; i < n; i++)
            edge_put_u16(w, (uint16_t)s[i]);
}

void edge_data_block_i24(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const int32_t *s, uint16_t n)
{
    uint16_t i;
    uint8_t *p;
    if (!block_header(w, channel_id, EDGE_FMT_INT24, first_index, n))
        return;
    for (i = 0; i < n; i++) {
        int32_t v = s[i];
        /* saturate to the 24-bit range rather than wrap: a clipped sample is less wrong */
        if (v > 8388607)
            v = 8388607;
        if (v < -8388608)
            v = -8388608;
        p = reserve(w, 3);
        if (!p)
            return;
        p[0] = (uint8_t)((uint32_t)v);
        p[1] = (uint8_t)((uint32_t)v >> 8);
        p[2] = (uint8_t)((uint32_t)v >> 16);
    }
}

void edge_data_block_i32(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const int32_t *s, uint16_t n)
{
    uint16_t i;
    if (block_header(w, channel_id, EDGE_FMT_INT32, first_index, n))
        for (i = 0; i < n; i++)
            edge_put_u32(w, (uint32_t)s[i]);
}

void edge_data_block_f32(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const float *s, uint16_t n)
{
    uint16_t i;
    if (block_header(w, channel_id, EDGE_FMT_FLOAT32, first_index, n))
        for (i = 0; i < n; i++)
            edge_put_f32(w, s[i]);
}

void edge_heartbeat(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h, uint32_t frames_dropped)
{
    edge_begin(w, buf, cap, EDGE_MSG_HEARTBEAT, h);
    edge_put_u32(w, frames_dropped);
}

void edge_status(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h, uint32_t board_flags,
                 const edge_channel_status_t *ch, uint8_t n_channels)
{
    uint8_t i;
    edge_begin(w, buf, cap, EDGE_MSG_STATUS, h);
    edge_put_u32(w, board_flags);
    edge_put_u8(w, n_channels);
    for (i = 0; i < n_channels; i++) {
        edge_put_u8(w, ch[i].channel_id);
        edge_put_u8(w, 0);
        edge_put_u16(w, ch[i].flags);
    }
    for (i = 0; i < n_channels; i++) /* 1.1: appended, so a 1.0 receiver reads the frame as before */
        edge_put_u16(w, ch[i].state);
}

size_t edge_finish(edge_writer_t *w, uint8_t *out, size_t cap)
{
    size_t n;
    if (w->len > EDGE_MAX_FRAME - EDGE_CRC_SIZE)
        w->overflow = 1;
    edge_put_u32(w, edge_crc32c(0, w->buf, w->len));
    if (w->overflow || cap < 3)
        return 0;
    out[0] = 0;
    n = edge_cobs_encode(w->buf, w->len, out + 1, cap - 2);
    if (n == 0)
        return 0;
    out[n + 1] = 0;
    return n + 2;
}
