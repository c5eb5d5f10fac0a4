"""Row/column strip projection + outer product (LPC-Net DLM; LSA-Net location attention)."""
