/* edge_frame: host tool that builds frames with the C encoder and prints each one as a hex line.
 * Used by the test suite to check that the C and Python encoders agree byte for byte.
 *
 * Reads whitespace-separated commands from stdin ("-" stands for an empty string):
 *   hello     BOARD SEQ TS UID NAME FIRMWARE NCH {ID MODALITY FMT RATE_MHZ SCALE UNITS SENSOR}*NCH
 *   data      BOARD SEQ TS NBLOCKS {CH FMT FIRST COUNT V1 .. VCOUNT}*NBLOCKS
 *   heartbeat BOARD SEQ TS DROPPED
 *   status    BOARD SEQ TS BOARD_FLAGS N {CH FLAGS STATE}*N
 * and writes, per command, the complete wire frame (both 0x00 delimiters) as lowercase hex.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_proto.h"

#define MAX_CH 32
#define MAX_SAMPLES 2048

static char tok[512];

static const char *next(void)
{
    if (scanf("%511s", tok) != 1) {
        fprintf(stderr, "edge_frame: unexpected end of input\n");
        exit(2);
    }
    return tok;
}

static unsigned long long num(void) { return strtoull(next(), NULL, 0); }
static long long snum(void) { return strtoll(next(), NULL, 0); }

static char *str(char *dst)
{
    const char *t = next();
    strcpy(dst, strcmp(t, "-") == 0 ? "" : t);
    return dst;
}

int main(void)
{
    static uint8_t raw[EDGE_MAX_FRAME], wire[EDGE_MAX_WIRE];
    static char names[2 + 2 * MAX_CH][256];
    static int32_t i32[MAX_SAMPLES];
    static int16_t i16[MAX_SAMPLES];
    static float f32[MAX_SAMPLES];
    char cmd[32];
    edge_writer_t w;
    while (scanf("%31s", cmd) == 1) {
        edge_header_t h;
        size_t n, k;
        h.board_id = (uint16_t)num();
        h.seq = (uint32_t)num();
        h.timestamp_us = (uint64_t)num();
        if (strcmp(cmd, "hello") == 0) {
            edge_channel_desc_t ch[MAX_CH];
            uint64_t uid = num();
            uint8_t nch;
            str(names[0]);
            str(names[1]);
            nch = (uint8_t)num();
            for (k = 0; k < nch && k < MAX_CH; k++) {
                ch[k].channel_id = (uint8_t)num();
                ch[k].modality = (uint8_t)num();
                ch[k].fmt = (uint8_t)num();
                ch[k].rate_mhz = (uint32_t)num();
                ch[k].scale = (float)strtod(next(), NULL);
                ch[k].units = str(names[2 + 2 * k]);
                ch[k].sensor = str(names[3 + 2 * k]);
            }
            edge_hello(&w, raw, sizeof raw, &h, uid, names[0], names[1], ch, nch);
        } else if (strcmp(cmd, "data") == 0) {
            size_t nb = num(), b;
            edge_data_begin(&w, raw, sizeof raw, &h);
            for (b = 0; b < nb; b++) {
                uint8_t chid = (uint8_t)num(), fmt = (uint8_t)num();
                uint64_t first = num();
                n = num();
                if (n > MAX_SAMPLES) {
                    fprintf(stderr, "edge_frame: at most %d samples per block\n", MAX_SAMPLES);
                    return 2;
                }
                for (k = 0; k < n; k++) {
                    if (fmt == EDGE_FMT_FLOAT32)
                        f32[k] = (float)strtod(next(), NULL);
                    else
                        i32[k] = (int32_t)snum();
                    i16[k] = (int16_t)i32[k];
                }
                if (fmt == EDGE_FMT_INT16)
                    edge_data_block_i16(&w, chid, first, i16, (uint16_t)n);
                else if (fmt == EDGE_FMT_INT24)
                    edge_data_block_i24(&w, chid, first, i32, (uint16_t)n);
                else if (fmt == EDGE_FMT_INT32)
                    edge_data_block_i32(&w, chid, first, i32, (uint16_t)n);
                else
                    edge_data_block_f32(&w, chid, first, f32, (uint16_t)n);
            }
        } else if (strcmp(cmd, "heartbeat") == 0) {
            edge_heartbeat(&w, raw, sizeof raw, &h, (uint32_t)num());
        } else if (strcmp(cmd, "status") == 0) {
            edge_channel_status_t st[MAX_CH];
            uint32_t flags = (uint32_t)num();
            uint8_t nch = (uint8_t)num();
            for (k = 0; k < nch && k < MAX_CH; k++) {
                st[k].channel_id = (uint8_t)num();
                st[k].flags = (uint16_t)num();
                st[k].state = (uint16_t)num();
            }
            edge_status(&w, raw, sizeof raw, &h, flags, st, nch);
        } else {
            fprintf(stderr, "edge_frame: unknown command '%s'\n", cmd);
            return 2;
        }
        n = edge_finish(&w, wire, sizeof wire);
        if (n == 0) {
            fprintf(stderr, "edge_frame: frame does not fit in %d bytes\n", EDGE_MAX_FRAME);
            return 3;
        }
        for (k = 0; k < n; k++)
            printf("%02x", wire[k]);
        printf("\n");
    }
    return 0;
}
