"""Built-in object detection task on generated shapes (or a user's images with boxes).

The method's second example: count the objects in each image before training a box regression
network. See shapes.py for the generated data, annotations.py for a user's images, model.py for the
network, boxes.py and coco.py for the metrics; the ladder is conf/task/detection.yaml.
"""
from .task import METRICS, DetectionTask

__all__ = ["DetectionTask", "METRICS"]
