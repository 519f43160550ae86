/* hal_host.c: a deterministic host "board" so the application builds and runs under gcc.
 * Time is simulated: each hal_idle() runs 1 ms of timer interrupts. Samples are a known function of
 * their index (the tests check every one), frames go to stdout as raw bytes, and the program exits
 * after EDGE_HOST_SECONDS (default 1) of board time. EDGE_HOST_MIC_OFF="A-B" unplugs the microphone
 * from A to B seconds of board time. */
#include <stdio.h>
#include <stdlib.h>

#include "hal.h"

static void (*timer_isr)(void);
static uint32_t timer_rate;
static uint64_t now_us, end_us, mic_index, geo_index, mic_off_us = 1, mic_on_us = 0;

void hal_init(void)
{
    const char *s = getenv("EDGE_HOST_SECONDS"), *off = getenv("EDGE_HOST_MIC_OFF");
    double a, b;
    end_us = (uint64_t)((s ? atof(s) : 1.0) * 1e6);
    if (off && sscanf(off, "%lf-%lf", &a, &b) == 2 && 0 <= a && a < b) {
        mic_off_us = (uint64_t)(a * 1e6);
        mic_on_us = (uint64_t)(b * 1e6);
    }
}

int hal_sensor_connected(uint8_t channel_id)
{
    return channel_id != 0 || now_us < mic_off_us || now_us >= mic_on_us;
}

void hal_timer_start(uint32_t rate_hz, void (*isr)(void))
{
    timer_isr = isr;
    timer_rate = rate_hz;
}

/* The sample patterns the tests expect (see tests/test_firmware_c.py). */
int16_t hal_adc_mic(void) { return (int16_t)((long)((mic_index++ * 37u) % 20001u) - 10000); }
int32_t hal_adc_geophone(void) { return (int32_t)((long)((geo_index++ * 1009u) % 2000001u) - 1000000); }
uint64_t hal_micros(void) { return now_us; }
uint64_t hal_board_uid(void) { return 0x0123456789ABCDEFull; }
void hal_serial_write(const uint8_t *buf, size_t n) { fwrite(buf, 1, n, stdout); }
uint32_t hal_irq_save(void) { return 0; }
void hal_irq_restore(uint32_t state) { (void)state; }

void hal_idle(void)
{
    uint32_t k;
    if (now_us >= end_us) {
        fflush(stdout);
        exit(0);
    }
    for (k = 0; k < timer_rate / 1000u; k++)
        timer_isr();
    now_us += 1000u;
}
