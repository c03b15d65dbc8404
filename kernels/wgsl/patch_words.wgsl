// patch_words.wgsl: the partial 32-bit words at the edges of a write whose byte offset or length is
// not a multiple of 4 (copyBufferToBuffer moves whole words only; the device writes the aligned
// middle that way). edits holds [count, then (word index, new bits, byte mask) per word]: each word
// keeps its bytes outside the mask, so the neighbours of the written range are left as they were.
@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<storage, read> edits: array<u32>;

@compute @workgroup_size(2)
fn main(@builtin(local_invocation_index) i: u32) {
  if (i >= edits[0]) { return; }
  let w = edits[1u + 3u * i];
  let mask = edits[3u + 3u * i];
  dst[w] = (dst[w] & ~mask) | (edits[2u + 3u * i] & mask);
}
