/* placeholder: being written (issue 5) */
typedef int kink_placeholder_kink_sa;
