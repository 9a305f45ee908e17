"""Frame samplers side by side: which frames each video pipeline keeps, index for index."""
