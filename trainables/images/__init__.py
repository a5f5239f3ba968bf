"""Part 1: transfer learning with torchvision backbones (feature extraction + SVM, fine-tuning)."""
