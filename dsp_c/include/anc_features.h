/*
 * anc_features.h - streaming noise features for classification: 1/3-octave band levels and
 * spectral descriptors, one feature vector per hop (100 ms at 48 kHz by default).
 *
 * Framing: samples are pushed in blocks of any length. Frame k (k = 1, 2, ...) is emitted
 * once k*hop samples have arrived and analyses the last N = fft_size of them (zeros before
 * the first sample).
 *
 * Per frame, with x[0..N-1] the frame (oldest first), w the periodic Hann window
 * w[i] = 0.5 - 0.5 cos(2 pi i / N) and X = FFT(w x):
 *   P[k]  = c_k |X[k]|^2 / (N sum_i w[i]^2),  c_k = 1 for k = 0, N/2 and 2 otherwise,
 *           so sum_k P[k] estimates the mean square of x (one-sided power per bin)
 *   band b (centre fc = 1000 * 10^(m/10) Hz, edges fc * 10^(-+1/20)): bins k with
 *           lo <= k fs / N < hi;  level_b = 10 log10(sum P[k] + 1e-12)           [dB]
 *   level_dbfs         = 10 log10(mean x^2 + 1e-12)       [dB re a full-scale mean square 1.0]
 *   crest_factor_db    = 10 log10(max x^2 / mean x^2)     [dB], 0 for a silent frame
 *   zero_crossing_rate = #{i : (x[i] >= 0) != (x[i-1] >= 0)} / (N - 1)
 *   spectral_centroid_hz = sum_{k>=1} f_k P[k] / sum_{k>=1} P[k]   (0 for a silent frame)
 *   spectral_flatness  = exp(mean ln(P[k] + 1e-20)) / (mean P[k] + 1e-20) over the bins of
 *                        all bands (geometric / arithmetic mean; 1 = white, -> 0 = tonal)
 * Output order: the band levels from low to high, then the five descriptors in the order
 * above (protocol/features.json names them).
 *
 * State: anc_features_state_len_f32(N) = 5 N floats (window, ring, FFT work re/im, twiddles).
 */
#ifndef ANC_FEATURES_H
#define ANC_FEATURES_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum anc_features_limits {
    ANC_FEATURES_MAX_BANDS = 32,      /* size of the band tables below */
    ANC_FEATURES_DESCRIPTORS = 5,     /* values after the band levels */
    ANC_FEATURES_MIN_FFT = 64,
    ANC_FEATURES_MAX_FFT = 65536
};

typedef struct {
    float fs;                  /* sample rate, Hz */
    uint32_t fft_size;         /* N, a power of two */
    uint32_t hop;              /* samples between frames, 1..N */
    uint32_t num_bands;        /* bands analysed, <= ANC_FEATURES_MAX_BANDS */
    uint32_t band_first[32];   /* [num_bands] first FFT bin of each band */
    uint32_t band_end[32];     /* [num_bands] one past the last bin */
    float band_centre_hz[32];  /* [num_bands] exact centre frequency */
    float *window;             /* [N] periodic Hann */
    float *ring;               /* [N] last N samples, oldest at ring[pos] */
    float *re;                 /* [N] FFT work, real part */
    float *im;                 /* [N] FFT work, imaginary part */
    float *twiddle;            /* [N] cos then sin of -2 pi k / N, k < N/2 */
    double window_power;       /* sum of w[i]^2 */
    uint32_t pos;
    uint32_t since_frame;      /* samples received since the last frame */
    uint64_t frames;           /* frames emitted since init/reset */
} anc_features_instance_f32;

uint32_t anc_features_state_len_f32(uint32_t fft_size);
/* Bands: every 1/3-octave band whose centre lies in [f_lo_hz, f_hi_hz] and whose upper edge
   is below fs / 2; each must hold at least one FFT bin (else ANC_ERR_PARAM). */
anc_status anc_features_init_f32(anc_features_instance_f32 *s, float fs, uint32_t fft_size,
                                 uint32_t hop, float f_lo_hz, float f_hi_hz, float *state,
                                 uint32_t state_len);
void anc_features_reset_f32(anc_features_instance_f32 *s);
/* Values per frame: num_bands + ANC_FEATURES_DESCRIPTORS. */
uint32_t anc_features_count_f32(const anc_features_instance_f32 *s);
/* Frames that pushing num_samples more samples will emit. */
uint32_t anc_features_frames_for_f32(const anc_features_instance_f32 *s, uint32_t num_samples);
/* Push samples; writes *frames_out frames (row-major, count_f32 values each) to out.
   Returns ANC_ERR_PARAM and consumes nothing if max_frames is smaller than frames_for. */
anc_status anc_features_f32(anc_features_instance_f32 *s, const float *x, uint32_t num_samples,
                            float *out, uint32_t max_frames, uint32_t *frames_out);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
