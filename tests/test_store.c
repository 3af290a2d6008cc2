/* Being written: the store tests. */
int main(void) { return 77; }
