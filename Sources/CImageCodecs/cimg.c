#include "cimg.h"
int cimg_placeholder(void){return 0;}
