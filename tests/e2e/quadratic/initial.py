# EVOLVE-BLOCK-START
X = -4.0
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
