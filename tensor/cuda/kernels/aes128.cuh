/*
 * aes128.cuh: AES-128 encryption of counter blocks for the mask and rounding
 * streams of docs/wire/mask-stream.md.
 *
 * The implementation uses one 1 KiB T-table (Te0; Te1..Te3 are its byte
 * rotations) whose entry x holds the column (2·S[x], S[x], S[x], 3·S[x]) as a
 * big-endian word; the last round takes S[x] from byte 2 of Te0[x]. The
 * state is four big-endian column words, as in FIPS-197.
 *
 * Each block copies the table into shared memory once, replicated 32 times
 * (32 KiB): entry x of lane l's copy is word 32·x + l, which lies in bank l,
 * so the 32 lanes of a warp always read 32 different banks whatever the
 * indices. A lookup therefore never serialises on a bank conflict: it costs
 * the same for every index (no cache is involved), which is what keeps the
 * secret-indexed lookups constant time, and it runs at the full shared-memory
 * rate. Kernels that use the tables declare COHORT_AES_SHARED_TABLE(sh) and
 * call cohort_aes_table_load(sh) before their grid-stride loop, on every
 * thread of the block (it synchronises the block).
 */
#ifndef COHORT_AES128_CUH
#define COHORT_AES128_CUH

#include "common.cuh"

/* cohort_aes128_key is an expanded AES-128 key: the 44 words w[0..43] of the
 * FIPS-197 key expansion (word i is bytes 4i..4i+3 of the 176-byte schedule,
 * read big-endian). The host expands the key and passes the struct by value
 * (176 bytes of kernel parameters). */
typedef struct {
	uint32_t w[44];
} cohort_aes128_key;

/* cohort_te0[x] = 2·S[x] << 24 | S[x] << 16 | S[x] << 8 | 3·S[x]. */
static __constant__ const uint32_t cohort_te0[256] = {
	0xc66363a5u, 0xf87c7c84u, 0xee777799u, 0xf67b7b8du, 0xfff2f20du, 0xd66b6bbdu,
	0xde6f6fb1u, 0x91c5c554u, 0x60303050u, 0x02010103u, 0xce6767a9u, 0x562b2b7du,
	0xe7fefe19u, 0xb5d7d762u, 0x4dababe6u, 0xec76769au, 0x8fcaca45u, 0x1f82829du,
	0x89c9c940u, 0xfa7d7d87u, 0xeffafa15u, 0xb25959ebu, 0x8e4747c9u, 0xfbf0f00bu,
	0x41adadecu, 0xb3d4d467u, 0x5fa2a2fdu, 0x45afafeau, 0x239c9cbfu, 0x53a4a4f7u,
	0xe4727296u, 0x9bc0c05bu, 0x75b7b7c2u, 0xe1fdfd1cu, 0x3d9393aeu, 0x4c26266au,
	0x6c36365au, 0x7e3f3f41u, 0xf5f7f702u, 0x83cccc4fu, 0x6834345cu, 0x51a5a5f4u,
	0xd1e5e534u, 0xf9f1f108u, 0xe2717193u, 0xabd8d873u, 0x62313153u, 0x2a15153fu,
	0x0804040cu, 0x95c7c752u, 0x46232365u, 0x9dc3c35eu, 0x30181828u, 0x379696a1u,
	0x0a05050fu, 0x2f9a9ab5u, 0x0e070709u, 0x24121236u, 0x1b80809bu, 0xdfe2e23du,
	0xcdebeb26u, 0x4e272769u, 0x7fb2b2cdu, 0xea75759fu, 0x1209091bu, 0x1d83839eu,
	0x582c2c74u, 0x341a1a2eu, 0x361b1b2du, 0xdc6e6eb2u, 0xb45a5aeeu, 0x5ba0a0fbu,
	0xa45252f6u, 0x763b3b4du, 0xb7d6d661u, 0x7db3b3ceu, 0x5229297bu, 0xdde3e33eu,
	0x5e2f2f71u, 0x13848497u, 0xa65353f5u, 0xb9d1d168u, 0x00000000u, 0xc1eded2cu,
	0x40202060u, 0xe3fcfc1fu, 0x79b1b1c8u, 0xb65b5bedu, 0xd46a6abeu, 0x8dcbcb46u,
	0x67bebed9u, 0x7239394bu, 0x944a4adeu, 0x984c4cd4u, 0xb05858e8u, 0x85cfcf4au,
	0xbbd0d06bu, 0xc5efef2au, 0x4faaaae5u, 0xedfbfb16u, 0x864343c5u, 0x9a4d4dd7u,
	0x66333355u, 0x11858594u, 0x8a4545cfu, 0xe9f9f910u, 0x04020206u, 0xfe7f7f81u,
	0xa05050f0u, 0x783c3c44u, 0x259f9fbau, 0x4ba8a8e3u, 0xa25151f3u, 0x5da3a3feu,
	0x804040c0u, 0x058f8f8au, 0x3f9292adu, 0x219d9dbcu, 0x70383848u, 0xf1f5f504u,
	0x63bcbcdfu, 0x77b6b6c1u, 0xafdada75u, 0x42212163u, 0x20101030u, 0xe5ffff1au,
	0xfdf3f30eu, 0xbfd2d26du, 0x81cdcd4cu, 0x180c0c14u, 0x26131335u, 0xc3ecec2fu,
	0xbe5f5fe1u, 0x359797a2u, 0x884444ccu, 0x2e171739u, 0x93c4c457u, 0x55a7a7f2u,
	0xfc7e7e82u, 0x7a3d3d47u, 0xc86464acu, 0xba5d5de7u, 0x3219192bu, 0xe6737395u,
	0xc06060a0u, 0x19818198u, 0x9e4f4fd1u, 0xa3dcdc7fu, 0x44222266u, 0x542a2a7eu,
	0x3b9090abu, 0x0b888883u, 0x8c4646cau, 0xc7eeee29u, 0x6bb8b8d3u, 0x2814143cu,
	0xa7dede79u, 0xbc5e5ee2u, 0x160b0b1du, 0xaddbdb76u, 0xdbe0e03bu, 0x64323256u,
	0x743a3a4eu, 0x140a0a1eu, 0x924949dbu, 0x0c06060au, 0x4824246cu, 0xb85c5ce4u,
	0x9fc2c25du, 0xbdd3d36eu, 0x43acacefu, 0xc46262a6u, 0x399191a8u, 0x319595a4u,
	0xd3e4e437u, 0xf279798bu, 0xd5e7e732u, 0x8bc8c843u, 0x6e373759u, 0xda6d6db7u,
	0x018d8d8cu, 0xb1d5d564u, 0x9c4e4ed2u, 0x49a9a9e0u, 0xd86c6cb4u, 0xac5656fau,
	0xf3f4f407u, 0xcfeaea25u, 0xca6565afu, 0xf47a7a8eu, 0x47aeaee9u, 0x10080818u,
	0x6fbabad5u, 0xf0787888u, 0x4a25256fu, 0x5c2e2e72u, 0x381c1c24u, 0x57a6a6f1u,
	0x73b4b4c7u, 0x97c6c651u, 0xcbe8e823u, 0xa1dddd7cu, 0xe874749cu, 0x3e1f1f21u,
	0x964b4bddu, 0x61bdbddcu, 0x0d8b8b86u, 0x0f8a8a85u, 0xe0707090u, 0x7c3e3e42u,
	0x71b5b5c4u, 0xcc6666aau, 0x904848d8u, 0x06030305u, 0xf7f6f601u, 0x1c0e0e12u,
	0xc26161a3u, 0x6a35355fu, 0xae5757f9u, 0x69b9b9d0u, 0x17868691u, 0x99c1c158u,
	0x3a1d1d27u, 0x279e9eb9u, 0xd9e1e138u, 0xebf8f813u, 0x2b9898b3u, 0x22111133u,
	0xd26969bbu, 0xa9d9d970u, 0x078e8e89u, 0x339494a7u, 0x2d9b9bb6u, 0x3c1e1e22u,
	0x15878792u, 0xc9e9e920u, 0x87cece49u, 0xaa5555ffu, 0x50282878u, 0xa5dfdf7au,
	0x038c8c8fu, 0x59a1a1f8u, 0x09898980u, 0x1a0d0d17u, 0x65bfbfdau, 0xd7e6e631u,
	0x844242c6u, 0xd06868b8u, 0x824141c3u, 0x299999b0u, 0x5a2d2d77u, 0x1e0f0f11u,
	0x7bb0b0cbu, 0xa85454fcu, 0x6dbbbbd6u, 0x2c16163au,
};

/* The replicated table: COHORT_AES_LANES copies of Te0, interleaved. */
#define COHORT_AES_LANES 32
#define COHORT_AES_TABLE_WORDS (256 * COHORT_AES_LANES)
#define COHORT_AES_SHARED_TABLE(name) __shared__ uint32_t name[COHORT_AES_TABLE_WORDS]

/* cohort_aes_table_load fills sh with the replicated table and returns the
 * calling thread's view of it: Te0[x] is t[x * COHORT_AES_LANES]. Every
 * thread of the block must call it (it ends with a barrier). */
static __device__ __forceinline__ const uint32_t* cohort_aes_table_load(uint32_t* sh)
{
#ifdef __CUDACC__
	for (uint32_t i = threadIdx.x; i < COHORT_AES_TABLE_WORDS; i += blockDim.x)
		sh[i] = cohort_te0[i / COHORT_AES_LANES];
	__syncthreads();
#else
	/* The emulation runs a block's threads one after another: the first
	 * fills the whole table. */
	if (threadIdx.x == 0)
		for (uint32_t i = 0; i < COHORT_AES_TABLE_WORDS; i++)
			sh[i] = cohort_te0[i / COHORT_AES_LANES];
#endif
	return sh + threadIdx.x % COHORT_AES_LANES;
}

#define COHORT_TE0(t, x) ((t)[(x) * COHORT_AES_LANES])

static __device__ __forceinline__ uint32_t cohort_rotr32(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

/* One full AES round of column j: the T-table form of SubBytes, ShiftRows
 * and MixColumns, then AddRoundKey with k. */
static __device__ __forceinline__ uint32_t cohort_aes_round(const uint32_t* t, uint32_t a, uint32_t b, uint32_t c,
                                                            uint32_t d, uint32_t k)
{
	return COHORT_TE0(t, a >> 24) ^ cohort_rotr32(COHORT_TE0(t, b >> 16 & 0xff), 8) ^
	       cohort_rotr32(COHORT_TE0(t, c >> 8 & 0xff), 16) ^ cohort_rotr32(COHORT_TE0(t, d & 0xff), 24) ^ k;
}

/* The last round of column j: SubBytes and ShiftRows (no MixColumns), then
 * AddRoundKey with k. S[x] is byte 2 of Te0[x]. */
static __device__ __forceinline__ uint32_t cohort_aes_final(const uint32_t* t, uint32_t a, uint32_t b, uint32_t c,
                                                            uint32_t d, uint32_t k)
{
	return ((COHORT_TE0(t, a >> 24) & 0x00ff0000u) << 8) ^ (COHORT_TE0(t, b >> 16 & 0xff) & 0x00ff0000u) ^
	       ((COHORT_TE0(t, c >> 8 & 0xff) & 0x00ff0000u) >> 8) ^ ((COHORT_TE0(t, d & 0xff) & 0x00ff0000u) >> 16) ^ k;
}

/* cohort_aes128_ctr_block encrypts counter block ctr + j, where ctr =
 * ctr_hi·2^64 + ctr_lo and the sum is taken modulo 2^128 (the carry out of
 * the low 64 bits goes into the high 64 bits), and stores the 16 keystream
 * bytes as four big-endian words: out[0] holds bytes 0..3, out[3] bytes
 * 12..15. t is the thread's view of the shared table. */
static __device__ __forceinline__ void cohort_aes128_ctr_block(const uint32_t* t, const cohort_aes128_key* key,
                                                               uint64_t ctr_hi, uint64_t ctr_lo, uint64_t j,
                                                               uint32_t out[4])
{
	const uint32_t* w = key->w;
	uint64_t lo = ctr_lo + j;
	uint64_t hi = ctr_hi + cohort_lt_u64(lo, ctr_lo); /* carry */
	uint32_t s0 = (uint32_t)(hi >> 32) ^ w[0];
	uint32_t s1 = (uint32_t)hi ^ w[1];
	uint32_t s2 = (uint32_t)(lo >> 32) ^ w[2];
	uint32_t s3 = (uint32_t)lo ^ w[3];
#ifdef __CUDACC__
#pragma unroll
#endif
	for (int r = 1; r < 10; r++) {
		uint32_t t0 = cohort_aes_round(t, s0, s1, s2, s3, w[4 * r]);
		uint32_t t1 = cohort_aes_round(t, s1, s2, s3, s0, w[4 * r + 1]);
		uint32_t t2 = cohort_aes_round(t, s2, s3, s0, s1, w[4 * r + 2]);
		uint32_t t3 = cohort_aes_round(t, s3, s0, s1, s2, w[4 * r + 3]);
		s0 = t0;
		s1 = t1;
		s2 = t2;
		s3 = t3;
	}
	out[0] = cohort_aes_final(t, s0, s1, s2, s3, w[40]);
	out[1] = cohort_aes_final(t, s1, s2, s3, s0, w[41]);
	out[2] = cohort_aes_final(t, s2, s3, s0, s1, w[42]);
	out[3] = cohort_aes_final(t, s3, s0, s1, s2, w[43]);
}

/* cohort_aes128_words32 sets r[i] to the little-endian uint32 words of
 * keystream block ctr + j: the stream's uint32 words 4j..4j+3 when the stream
 * (or chunk) starts at block ctr. */
static __device__ __forceinline__ void cohort_aes128_words32(const uint32_t* t, const cohort_aes128_key* key,
                                                             uint64_t ctr_hi, uint64_t ctr_lo, uint64_t j,
                                                             uint32_t r[4])
{
	uint32_t o[4];
	cohort_aes128_ctr_block(t, key, ctr_hi, ctr_lo, j, o);
	r[0] = cohort_bswap32(o[0]);
	r[1] = cohort_bswap32(o[1]);
	r[2] = cohort_bswap32(o[2]);
	r[3] = cohort_bswap32(o[3]);
}

/* cohort_aes_subword applies the S-box to each byte of x. S[b] is byte 2
 * of Te0[b], read from the conflict-free shared table. */
static __device__ __forceinline__ uint32_t cohort_aes_subword(const uint32_t* t, uint32_t x)
{
	return (COHORT_TE0(t, x >> 24) & 0x00ff0000u) << 8 | (COHORT_TE0(t, x >> 16 & 0xff) & 0x00ff0000u) |
	       (COHORT_TE0(t, x >> 8 & 0xff) & 0x00ff0000u) >> 8 | (COHORT_TE0(t, x & 0xff) & 0x00ff0000u) >> 16;
}

/* cohort_aes128_expand expands the 16-byte AES-128 key k (FIPS-197 §5.2)
 * into out. */
static __device__ __forceinline__ void cohort_aes128_expand(const uint32_t* t, const uint8_t* k,
                                                            cohort_aes128_key* out)
{
	uint32_t* w = out->w;
	for (int i = 0; i < 4; i++)
		w[i] = (uint32_t)k[4 * i] << 24 | (uint32_t)k[4 * i + 1] << 16 | (uint32_t)k[4 * i + 2] << 8 |
		       (uint32_t)k[4 * i + 3];
	uint32_t rcon = 1;
	for (int i = 4; i < 44; i++) {
		uint32_t x = w[i - 1];
		if (i % 4 == 0) {
			x = cohort_aes_subword(t, x << 8 | x >> 24) ^ rcon << 24;
			rcon = rcon << 1 ^ (rcon >> 7) * 0x11bu; /* xtime; rcon is public */
		}
		w[i] = w[i - 4] ^ x;
	}
}

#endif /* COHORT_AES128_CUH */
