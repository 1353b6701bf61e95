/* placeholder: being written (issue 5, PFS) */
typedef int kink_placeholder_kink_dh;
