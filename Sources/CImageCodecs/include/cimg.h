int cimg_placeholder(void);
