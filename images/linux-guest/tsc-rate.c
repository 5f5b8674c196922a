/*
 * Prints this host's time stamp counter rate in kHz: the counter's advance over
 * 200 ms of CLOCK_MONOTONIC_RAW. Under TCG (without -icount) a guest's TSC is
 * the host's, and the Linux guest is told this rate (`tsc_early_khz=`), having
 * no timer it can calibrate against on microvm under emulation.
 */
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double seconds(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC_RAW, &time);
    return (double)time.tv_sec + (double)time.tv_nsec * 1e-9;
}

int main(void)
{
    double start = seconds();
    unsigned long long first = __rdtsc();
    double end;
    do
        end = seconds();
    while (end - start < 0.2);
    unsigned long long last = __rdtsc();
    printf("%.0f\n", (double)(last - first) / (end - start) / 1000.0);
    return 0;
}
