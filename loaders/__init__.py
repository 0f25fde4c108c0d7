"""Loader backends that turn sample records into training batches (DALI and the OpenCV reference).

Empty for now: the backends come with the training-data and DALI-loader work (see README "Status").
"""
