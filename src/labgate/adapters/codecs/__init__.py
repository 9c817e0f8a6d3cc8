"""Codecs: labgate's records to and from other systems' document formats (B2MML XML, later CSV).

A codec turns bytes into plain data or plain data into bytes; it opens no connection and commits
nothing. Hostile input (entity bombs, external entities) is refused here, at the edge.
"""
