/* Streaming noise features: 1/3-octave band levels and spectral descriptors per frame,
   from a Hann-windowed radix-2 FFT (see anc_features.h for the exact definitions). */
#include "anc_features.h"

#include <math.h>
#include <string.h>

#define ANC_PI 3.14159265358979323846

static int is_power_of_two(uint32_t n)
{
    return n != 0u && (n & (n - 1u)) == 0u;
}

uint32_t anc_features_state_len_f32(uint32_t fft_size)
{
    return 5u * fft_size;
}

anc_status anc_features_init_f32(anc_features_instance_f32 *s, float fs, uint32_t fft_size,
                                 uint32_t hop, float f_lo_hz, float f_hi_hz, float *state,
                                 uint32_t state_len)
{
    if (s == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (!is_power_of_two(fft_size) || fft_size < ANC_FEATURES_MIN_FFT ||
        fft_size > ANC_FEATURES_MAX_FFT || hop == 0u || hop > fft_size) {
        return ANC_ERR_TAPS;
    }
    if (!isfinite(fs) || fs <= 0.0f || !isfinite(f_lo_hz) || !isfinite(f_hi_hz) ||
        f_lo_hz <= 0.0f || f_hi_hz < f_lo_hz) {
        return ANC_ERR_PARAM;
    }
    if (state_len < anc_features_state_len_f32(fft_size)) {
        return ANC_ERR_STATE_LEN;
    }
    const double n = (double)fft_size;
    const double edge = pow(10.0, 1.0 / 20.0);
    uint32_t bands = 0;
    /* centres 1000 * 10^(m/10): m from -30 (1 Hz) up to 30 (1 MHz) covers any fs */
    for (int m = -30; m <= 30; ++m) {
        const double fc = 1000.0 * pow(10.0, m / 10.0);
        /* nominal band membership tolerates float rounding of the limits */
        if (fc < (double)f_lo_hz * (1.0 - 1e-6) || fc > (double)f_hi_hz * (1.0 + 1e-6)) {
            continue;
        }
        const double lo = fc / edge, hi = fc * edge;
        if (hi >= 0.5 * (double)fs) {
            break;
        }
        if (bands == ANC_FEATURES_MAX_BANDS) {
            return ANC_ERR_PARAM;
        }
        const uint32_t first = (uint32_t)ceil(lo * n / (double)fs);
        const uint32_t end = (uint32_t)ceil(hi * n / (double)fs);
        if (end <= first) {
            return ANC_ERR_PARAM; /* band narrower than one bin: use a longer FFT */
        }
        s->band_first[bands] = first;
        s->band_end[bands] = end;
        s->band_centre_hz[bands] = (float)fc;
        ++bands;
    }
    if (bands == 0u) {
        return ANC_ERR_PARAM;
    }
    s->fs = fs;
    s->fft_size = fft_size;
    s->hop = hop;
    s->num_bands = bands;
    s->window = state;
    s->ring = state + fft_size;
    s->re = state + 2u * fft_size;
    s->im = state + 3u * fft_size;
    s->twiddle = state + 4u * fft_size;
    double power = 0.0;
    for (uint32_t i = 0; i < fft_size; ++i) {
        const double w = 0.5 - 0.5 * cos(2.0 * ANC_PI * (double)i / n);
        s->window[i] = (float)w;
        power += (double)s->window[i] * (double)s->window[i];
    }
    s->window_power = power;
    for (uint32_t k = 0; k < fft_size / 2u; ++k) {
        s->twiddle[k] = (float)cos(-2.0 * ANC_PI * (double)k / n);
        s->twiddle[fft_size / 2u + k] = (float)sin(-2.0 * ANC_PI * (double)k / n);
    }
    anc_features_reset_f32(s);
    return ANC_OK;
}

void anc_features_reset_f32(anc_features_instance_f32 *s)
{
    memset(s->ring, 0, s->fft_size * sizeof(float));
    s->pos = 0;
    s->since_frame = 0;
    s->frames = 0;
}

uint32_t anc_features_count_f32(const anc_features_instance_f32 *s)
{
    return s->num_bands + ANC_FEATURES_DESCRIPTORS;
}

uint32_t anc_features_frames_for_f32(const anc_features_instance_f32 *s, uint32_t num_samples)
{
    return (uint32_t)(((uint64_t)s->since_frame + num_samples) / s->hop);
}

/* In-place iterative radix-2 decimation-in-time FFT of re + j im, length n. */
static void fft_radix2(float *re, float *im, const float *twiddle, uint32_t n)
{
    for (uint32_t i = 1, j = 0; i < n; ++i) {
        uint32_t bit = n >> 1;
        for (; j & bit; bit >>= 1) {
            j ^= bit;
        }
        j |= bit;
        if (i < j) {
            float t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    const float *tw_sin = twiddle + n / 2u;
    for (uint32_t len = 2; len <= n; len <<= 1) {
        const uint32_t half = len >> 1, stride = n / len;
        for (uint32_t start = 0; start < n; start += len) {
            for (uint32_t k = 0; k < half; ++k) {
                const float wr = twiddle[k * stride], wi = tw_sin[k * stride];
                const uint32_t a = start + k, b = a + half;
                const float tr = re[b] * wr - im[b] * wi;
                const float ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
    }
}

/* One feature vector from the ring (oldest sample at ring[pos]). */
static void analyse_frame(anc_features_instance_f32 *s, float *out)
{
    const uint32_t n = s->fft_size, half = n / 2u;
    double sum_sq = 0.0, peak_sq = 0.0;
    uint32_t crossings = 0;
    int prev_pos = 0;
    for (uint32_t i = 0; i < n; ++i) {
        uint32_t idx = s->pos + i;
        if (idx >= n) {
            idx -= n;
        }
        const float v = s->ring[idx];
        const double sq = (double)v * (double)v;
        sum_sq += sq;
        if (sq > peak_sq) {
            peak_sq = sq;
        }
        const int positive = v >= 0.0f;
        if (i > 0 && positive != prev_pos) {
            ++crossings;
        }
        prev_pos = positive;
        s->re[i] = v * s->window[i];
        s->im[i] = 0.0f;
    }
    fft_radix2(s->re, s->im, s->twiddle, n);

    /* one-sided power per bin, stored back into re[0..N/2] */
    const double scale = 1.0 / ((double)n * s->window_power);
    double total = 0.0, weighted = 0.0;
    for (uint32_t k = 0; k <= half; ++k) {
        const double mag = (double)s->re[k] * s->re[k] + (double)s->im[k] * s->im[k];
        const double p = mag * scale * ((k == 0u || k == half) ? 1.0 : 2.0);
        s->re[k] = (float)p;
        if (k > 0u) {
            total += p;
            weighted += p * (double)k * (double)s->fs / (double)n;
        }
    }
    for (uint32_t b = 0; b < s->num_bands; ++b) {
        double e = 0.0;
        for (uint32_t k = s->band_first[b]; k < s->band_end[b]; ++k) {
            e += s->re[k];
        }
        out[b] = (float)(10.0 * log10(e + 1e-12));
    }
    double log_sum = 0.0, lin_sum = 0.0;
    const uint32_t first = s->band_first[0], end = s->band_end[s->num_bands - 1u];
    for (uint32_t k = first; k < end; ++k) {
        log_sum += log((double)s->re[k] + 1e-20);
        lin_sum += s->re[k];
    }
    const double bins = (double)(end - first);
    const double mean_sq = sum_sq / (double)n;
    float *d = out + s->num_bands;
    d[0] = (float)(10.0 * log10(mean_sq + 1e-12));
    d[1] = mean_sq > 0.0 ? (float)(10.0 * log10(peak_sq / mean_sq)) : 0.0f;
    d[2] = (float)((double)crossings / (double)(n - 1u));
    d[3] = total > 0.0 ? (float)(weighted / total) : 0.0f;
    d[4] = (float)(exp(log_sum / bins) / (lin_sum / bins + 1e-20));
}

anc_status anc_features_f32(anc_features_instance_f32 *s, const float *x, uint32_t num_samples,
                            float *out, uint32_t max_frames, uint32_t *frames_out)
{
    if (s == NULL || frames_out == NULL || (num_samples > 0u && x == NULL)) {
        return ANC_ERR_NULL;
    }
    *frames_out = 0;
    const uint32_t due = anc_features_frames_for_f32(s, num_samples);
    if (due > max_frames || (due > 0u && out == NULL)) {
        return ANC_ERR_PARAM;
    }
    const uint32_t count = anc_features_count_f32(s);
    for (uint32_t i = 0; i < num_samples; ++i) {
        s->ring[s->pos] = x[i];
        s->pos = (s->pos + 1u == s->fft_size) ? 0u : s->pos + 1u;
        if (++s->since_frame == s->hop) {
            analyse_frame(s, out + (size_t)(*frames_out) * count);
            ++*frames_out;
            s->since_frame = 0;
            s->frames++;
        }
    }
    return ANC_OK;
}
