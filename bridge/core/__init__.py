"""The foundation every other layer stands on: errors, the results store, validated configs,
markdown tables and progress bars. Imports nothing else of homeobridge."""
