"""Optional execution adapters: each drives the same ask/tell object; the core never imports them."""
