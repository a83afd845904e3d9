"""qkv.viz: pictures of attention (needs the `viz` extra: matplotlib)."""
