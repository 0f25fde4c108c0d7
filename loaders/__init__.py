"""Loader backends that turn sample records into training batches (DALI and the OpenCV reference).

reference.py: the OpenCV reference backend. The DALI backend and the common loader API come next.
"""
