/* hal.h: everything board-specific the example application needs. One implementation per board:
 * hal_rp2040.c (Raspberry Pi Pico, pico-sdk) and hal_host.c (a deterministic host build for tests). */
#ifndef EDGE_HAL_H
#define EDGE_HAL_H

#include <stddef.h>
#include <stdint.h>

void hal_init(void);
/* Call isr() rate_hz times a second from a timer interrupt. */
void hal_timer_start(uint32_t rate_hz, void (*isr)(void));
/* One conversion each, called from the timer interrupt. */
int16_t hal_adc_mic(void);        /* microphone, raw int16 counts */
int32_t hal_adc_geophone(void);   /* geophone, raw 24-bit counts in an int32 */
uint64_t hal_micros(void);        /* microseconds since boot */
uint64_t hal_board_uid(void);     /* hardware-unique id */
int hal_sensor_connected(uint8_t channel_id);   /* 0: the sensor of channel 0 (mic) or 1 (geophone) is unplugged */
void hal_serial_write(const uint8_t *buf, size_t n);   /* blocking UART / USB-CDC write */
uint32_t hal_irq_save(void);      /* disable interrupts, return the previous state */
void hal_irq_restore(uint32_t state);
void hal_idle(void);              /* sleep until the next interrupt */

#endif
