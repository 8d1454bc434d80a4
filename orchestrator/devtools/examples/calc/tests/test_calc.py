import unittest

from calc import mean, spread


class CalcTest(unittest.TestCase):
    def test_mean(self) -> None:
        self.assertEqual(mean([1, 2, 3]), 2)

    def test_mean_of_one_value(self) -> None:
        self.assertEqual(mean([5]), 5)

    def test_spread(self) -> None:
        self.assertEqual(spread([4, 1, 7]), 6)


if __name__ == "__main__":
    unittest.main()
