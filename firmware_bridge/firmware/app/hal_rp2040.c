/* hal_rp2040.c: Raspberry Pi Pico (RP2040) with pico-sdk. Microphone preamp on GPIO26 (ADC0),
 * geophone on GPIO27 (ADC1); frames leave over USB-CDC (stdio). Built with CMakeLists.txt, not on the host.
 *
 * The RP2040's ADC is 12-bit; a field node puts a 24-bit delta-sigma ADC (e.g. ADS1256 over SPI)
 * on the geophone: replace hal_adc_geophone() and keep the rest. */
#include <stdio.h>

#include "hal.h"
#include "hardware/adc.h"
#include "hardware/sync.h"
#include "pico/stdlib.h"
#include "pico/unique_id.h"

static repeating_timer_t timer;
static void (*timer_isr)(void);

static bool on_timer(repeating_timer_t *t)
{
    (void)t;
    timer_isr();
    return true;
}

void hal_init(void)
{
    stdio_init_all();
    stdio_set_translate_crlf(&stdio_usb, false);   /* binary frames: no LF -> CRLF */
    adc_init();
    adc_gpio_init(26);
    adc_gpio_init(27);
}

void hal_timer_start(uint32_t rate_hz, void (*isr)(void))
{
    timer_isr = isr;
    /* negative period: measured from the previous start, so the rate does not drift with ISR time */
    add_repeating_timer_us(-(int64_t)(1000000u / rate_hz), on_timer, NULL, &timer);
}

int16_t hal_adc_mic(void)
{
    adc_select_input(0);
    return (int16_t)(((int32_t)adc_read() - 2048) * 16);   /* 12-bit mid-scale biased -> int16 */
}

int32_t hal_adc_geophone(void)
{
    adc_select_input(1);
    return ((int32_t)adc_read() - 2048) * 4096;            /* 12-bit -> 24-bit counts */
}

uint64_t hal_micros(void) { return time_us_64(); }

/* The reference board has no sensor-detect pins: both sensors count as connected. A board with a detect
 * line (a jack switch, a bias-current sense) reads it here; the app then reports unplugs in STATUS. */
int hal_sensor_connected(uint8_t channel_id)
{
    (void)channel_id;
    return 1;
}

uint64_t hal_board_uid(void)
{
    pico_unique_board_id_t id;
    uint64_t v = 0;
    int k;
    pico_get_unique_board_id(&id);
    for (k = 0; k < 8; k++)
        v |= (uint64_t)id.id[k] << (8 * k);
    return v;
}

void hal_serial_write(const uint8_t *buf, size_t n)
{
    fwrite(buf, 1, n, stdout);
    fflush(stdout);
}

uint32_t hal_irq_save(void) { return save_and_disable_interrupts(); }
void hal_irq_restore(uint32_t state) { restore_interrupts(state); }
void hal_idle(void) { __wfi(); }
