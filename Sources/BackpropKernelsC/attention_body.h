// The fused attention forward of vmath.c (inference only), written once on the vector type of
// vmath_body.h and included with it for each instruction set.
//
// For each (sample, head) task the head's keys are transposed into scratch, zero-padded to a
// multiple of VW keys, so that the scores of a query against VW keys are d FMAs of broadcast
// query elements. Queries are taken four at a time, so the key and value loads are shared and the
// FMA chains (4 queries × 2 vectors) are independent: a single chain would wait on FMA latency.
// Then per query: the mask, the maximum, the exponentials (vmath's exp) and their sum, and the
// output row Σ_j p_j·v_j scaled by 1/Σp once. Q, K, V and the output are read and written in
// place through row strides, so the heads of a [N, L, E] projection need no permute.

#define QUERY_BLOCK 4

/// 0, 1, …, VW − 1.
static inline vi FN(iota)(void) {
    vi lanes;
    for (int lane = 0; lane < VW; lane++) lanes[lane] = lane;
    return lanes;
}

/// The mask values of keys `j0..<j0 + VW` of one row (0 past the keys): a vector load when the
/// row is contiguous and the keys are all there, else element by element into the register.
static inline vf FN(maskvector)(const float *row, long stride, long j0, long key_length) {
    if (stride == 1 && j0 + VW <= key_length) return *(const vfu *)(row + j0);
    vf values = FN(splat)(0.0f);
    for (int lane = 0; lane < VW && j0 + lane < key_length; lane++) values[lane] = row[(j0 + lane) * stride];
    return values;
}

/// Stores the scores of keys `j0..<j0 + VW` of query `i`: scaled, masked (the mask row read as a
/// vector), and −∞ where causality or the padding past the keys removes them. Mixing scalar and
/// vector stores to the same scores would stall store forwarding, so each vector is stored once.
static inline void FN(storescores)(vf acc, float *row, long j0, long i, float scale, const float *mask_nh, long mask_l,
                                   long mask_s, long key_length, int causal) {
    vf score = acc * scale;
    if (mask_nh) score = score + FN(maskvector)(mask_nh + i * mask_l, mask_s, j0, key_length);
    vi lane = FN(iota)() + (int)j0;
    vi removed = lane >= (int)key_length;
    if (causal) removed = removed | (lane > (int)i);
    *(vfu *)(row + j0) = FN(select)(removed, FN(splat)(-__builtin_inff()), score);
}

static void FN(attention_f32)(const float *q, const float *k, const float *v, float *out, long heads, long query_length,
                              long key_length, long head_dim, long q_batch, long q_row, long k_batch, long k_row, long v_batch,
                              long v_row, long o_batch, long o_row, float scale, const float *mask, long mask_n, long mask_h,
                              long mask_l, long mask_s, int causal, float *scratch, long task_begin, long task_end) {
    const long padded = (key_length + VW - 1) / VW * VW;
    float *keys = scratch;                        // [head_dim][padded], keys transposed
    float *p = scratch + head_dim * padded;       // [QUERY_BLOCK][padded] scores, then probabilities
    const float negative_infinity = -__builtin_inff();
    for (long task = task_begin; task < task_end; task++) {
        const long n = task / heads, h = task % heads;
        const float *qh = q + n * q_batch + h * head_dim;
        const float *kh = k + n * k_batch + h * head_dim;
        const float *vh = v + n * v_batch + h * head_dim;
        float *oh = out + n * o_batch + h * head_dim;
        for (long c = 0; c < head_dim; c++) {
            for (long j = 0; j < key_length; j++) keys[c * padded + j] = kh[j * k_row + c];
            for (long j = key_length; j < padded; j++) keys[c * padded + j] = 0.0f;
        }
        const float *mask_nh = mask ? mask + n * mask_n + h * mask_h : 0;
        for (long i0 = 0; i0 < query_length; i0 += QUERY_BLOCK) {
            const long count = query_length - i0 < QUERY_BLOCK ? query_length - i0 : QUERY_BLOCK;
            const float *qi[QUERY_BLOCK];
            for (int b = 0; b < QUERY_BLOCK; b++) qi[b] = qh + (i0 + (b < count ? b : count - 1)) * q_row;

            // Scores (see storescores), two vectors of keys at a time, then a last single one: eight independent FMA chains
            // (four queries × two vectors) where there are enough keys.
            long jb = 0;
            for (; jb + 2 * VW <= padded; jb += 2 * VW) {
                vf acc[QUERY_BLOCK][2];
                for (int b = 0; b < QUERY_BLOCK; b++) acc[b][0] = acc[b][1] = FN(splat)(0.0f);
                for (long c = 0; c < head_dim; c++) {
                    vf k0 = *(const vfu *)(keys + c * padded + jb), k1 = *(const vfu *)(keys + c * padded + jb + VW);
                    for (int b = 0; b < QUERY_BLOCK; b++) {
                        vf qc = FN(splat)(qi[b][c]);
                        acc[b][0] = FN(fma)(qc, k0, acc[b][0]);
                        acc[b][1] = FN(fma)(qc, k1, acc[b][1]);
                    }
                }
                for (int b = 0; b < QUERY_BLOCK; b++) {
                    FN(storescores)(acc[b][0], p + b * padded, jb, i0 + (b < count ? b : count - 1), scale, mask_nh, mask_l, mask_s, key_length, causal);
                    FN(storescores)(acc[b][1], p + b * padded, jb + VW, i0 + (b < count ? b : count - 1), scale, mask_nh, mask_l, mask_s, key_length, causal);
                }
            }
            if (jb < padded) {
                vf acc[QUERY_BLOCK];
                for (int b = 0; b < QUERY_BLOCK; b++) acc[b] = FN(splat)(0.0f);
                for (long c = 0; c < head_dim; c++) {
                    vf k0 = *(const vfu *)(keys + c * padded + jb);
                    for (int b = 0; b < QUERY_BLOCK; b++) acc[b] = FN(fma)(FN(splat)(qi[b][c]), k0, acc[b]);
                }
                for (int b = 0; b < QUERY_BLOCK; b++)
                    FN(storescores)(acc[b], p + b * padded, jb, i0 + (b < count ? b : count - 1), scale, mask_nh, mask_l, mask_s, key_length, causal);
            }

            for (long b = 0; b < count; b++) {
                float *pb = p + b * padded;
                vf m = FN(splat)(negative_infinity);
                for (long jb = 0; jb < padded; jb += VW) m = __builtin_elementwise_max(m, *(const vfu *)(pb + jb));
                float maximum = m[0];
                for (int lane = 1; lane < VW; lane++) maximum = m[lane] > maximum ? m[lane] : maximum;
                if (maximum == negative_infinity) {
                    // Every key masked: weights 0, so the output row is 0 (PyTorch's
                    // scaled_dot_product_attention), not the NaN of exp(−∞ + ∞).
                    for (long jb = 0; jb < padded; jb += VW) *(vfu *)(pb + jb) = FN(splat)(0.0f);
                    continue;
                }
                vf sums = FN(splat)(0.0f);
                for (long jb = 0; jb < padded; jb += VW) {
                    vf e = FN(exp)(*(const vfu *)(pb + jb) - maximum);
                    *(vfu *)(pb + jb) = e;
                    sums = sums + e;
                }
                float sum = 0.0f;
                for (int lane = 0; lane < VW; lane++) sum += sums[lane];
                const float inverse = 1.0f / sum;
                // Scale the probabilities once instead of every output element.
                for (long jb = 0; jb < padded; jb += VW) *(vfu *)(pb + jb) = *(const vfu *)(pb + jb) * inverse;
            }

            long cb = 0;
            for (; cb + VW <= head_dim; cb += VW) {
                vf acc[QUERY_BLOCK];
                for (int b = 0; b < QUERY_BLOCK; b++) acc[b] = FN(splat)(0.0f);
                for (long j = 0; j < key_length; j++) {
                    vf vj = *(const vfu *)(vh + j * v_row + cb);
                    for (int b = 0; b < QUERY_BLOCK; b++) acc[b] = FN(fma)(FN(splat)(p[b * padded + j]), vj, acc[b]);
                }
                for (long b = 0; b < count; b++) *(vfu *)(oh + (i0 + b) * o_row + cb) = acc[b];
            }
            for (; cb < head_dim; cb++) {
                for (long b = 0; b < count; b++) {
                    float acc = 0.0f;
                    for (long j = 0; j < key_length; j++) acc = __builtin_fmaf(p[b * padded + j], vh[j * v_row + cb], acc);
                    oh[(i0 + b) * o_row + cb] = acc;
                }
            }
        }
    }
}

#undef QUERY_BLOCK
