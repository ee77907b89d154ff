"""The write page's views (pages/write.py lays them out)."""
