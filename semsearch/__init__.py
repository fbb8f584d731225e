"""semsearch: semantic search and recommendations over social centres' fiches actions."""
