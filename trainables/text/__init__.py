"""Part 2: recurrent text classifiers (TensorFlow/Keras) on train.csv / test.csv."""
